/* The runtime's structured copy (modules/mod_js/rt/copy.c), driven on heaps
 * from js_heap_new:
 *  - the data-only mode that rampart.event carries (js_event_encode /
 *    js_event_decode_push): every value type, encoded in one heap and
 *    decoded in another, and the limits (1,000 levels, 2^24 elements);
 *  - snapshots of the main heap's globals (js_snapshot_take / _apply):
 *    functions as bytecode bound to the new heap's globals, runtime natives
 *    and module exports re-resolved, shared references and cycles, added
 *    values, the bytes as a self-contained copy, another thread, and the
 *    nesting cut. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "jsrt.h"

/* ---- data-only mode ---------------------------------------------------------- */

typedef struct {
    unsigned char *data;
    size_t len;
} encoded;

static duk_ret_t encode_safe(duk_context *ctx, void *udata)
{
    encoded *e = udata;
    js_event_encode(ctx, -1, &e->data, &e->len);
    return 0;
}

static duk_ret_t decode_safe(duk_context *ctx, void *udata)
{
    encoded *e = udata;
    js_event_decode_push(ctx, e->data, e->len);
    duk_put_global_string(ctx, "v");
    return 0;
}

/* The value of src, encoded in `from` and decoded in `to` as the global v;
 * returns what check gives there, or "throws: <error>" when encoding threw. */
static const char *roundtrip(duk_context *from, duk_context *to, const char *src, const char *check)
{
    if (ut_push_eval(from, src) != 0)
        return ut_pop_text(from);
    encoded e = {NULL, 0};
    if (duk_safe_call(from, encode_safe, &e, 1, 1) != DUK_EXEC_SUCCESS) {
        char msg[600];
        snprintf(msg, sizeof msg, "throws: %s", duk_safe_to_string(from, -1));
        duk_pop(from);
        return ut_keep(msg);
    }
    duk_pop(from);
    int rc = duk_safe_call(to, decode_safe, &e, 0, 1);
    free(e.data);
    if (rc != DUK_EXEC_SUCCESS)
        return ut_pop_text(to);
    duk_pop(to);
    return ut_eval(to, check);
}

static void test_every_value_type(duk_context *a, duk_context *b)
{
    static const struct {
        const char *value, *check, *want;
    } cases[] = {
        {"undefined", "typeof v", "undefined"},
        {"null", "v === null", "true"},
        {"true", "v === true", "true"},
        {"false", "v === false", "true"},
        {"1.5", "v === 1.5", "true"},
        {"-0", "1 / v", "-Infinity"},
        {"NaN", "v !== v", "true"},
        {"-Infinity", "v", "-Infinity"},
        {"9007199254740991", "v === 9007199254740991", "true"},
        {"''", "v === ''", "true"},
        {"'h\\u00e9llo \\ud83d\\ude00'", "v === 'h\\u00e9llo \\ud83d\\ude00' && v.length", "8"},
        {"'a\\u0000b'", "v.length === 3 && v.charCodeAt(1)", "0"},
        {"(function () { var p = Uint8Array.allocPlain(3); p[0] = 1; p[2] = 255; return p; })()",
         "v.length + ',' + v[0] + ',' + v[1] + ',' + v[2]", "3,1,0,255"},
        {"new Uint8Array([9, 8])", "v instanceof Uint8Array && v.length + ',' + v[1]", "2,8"},
        {"new Float64Array([1.5])", "v.length", "8"}, /* buffer objects arrive as their bytes */
        {"new ArrayBuffer(5)", "v.length", "5"},
        {"new DataView(new ArrayBuffer(3))", "v.length", "3"},
        {"new Date(12345)", "v instanceof Date && v.getTime()", "12345"},
        {"(function () { var r = /x/g; r.foo = 1; return r; })()",
         "Object.prototype.toString.call(v) + JSON.stringify(v)", "[object Object]{\"foo\":1}"},
        {"(function () { var h = [1, , 3]; h.extra = 'x'; return h; })()",
         "JSON.stringify(v) + (1 in v) + v.extra", "[1,null,3]trueundefined"},
        {"({b: 1, a: 2, c: {d: [1, {e: 'f'}]}})", "Object.keys(v) + JSON.stringify(v)",
         "b,a,c{\"b\":1,\"a\":2,\"c\":{\"d\":[1,{\"e\":\"f\"}]}}"},
        {"(function () { var s = {x: 1}; return [s, s, {y: s}]; })()",
         "v[0] === v[1] && v[2].y === v[0] && v[0].x", "1"},
        {"(function () { var o = {a: 1, l: []}; o.self = o; o.l.push(o); return o; })()",
         "v.self === v && v.l[0] === v && v.a", "1"},
        {"({f: function () {}, g: 2, h: [function () {}, 1]})", "JSON.stringify(v) + ('f' in v)",
         "{\"g\":2,\"h\":[null,1]}false"},
        {"(function () {})", "typeof v", "undefined"},
        {"rampart.utils.printf", "typeof v", "undefined"},
        {"console", "JSON.stringify(v) + (v === console)", "{}false"},
        {"JSON.parse('{\"__proto__\": {\"z\": 1}, \"k\": 2}')", "Object.keys(v) + ' ' + v.z",
         "__proto__,k undefined"},
        {"new (function Point() { this.x = 1; })()",
         "Object.getPrototypeOf(v) === Object.prototype && v.x", "1"},
        {"Object.defineProperty({}, 'g', {get: function () { return [7]; }, enumerable: true})",
         "JSON.stringify(Object.getOwnPropertyDescriptor(v, 'g').value)", "[7]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = roundtrip(a, b, cases[i].value, cases[i].check);
        if (strcmp(got, cases[i].want) != 0) {
            fprintf(stderr, "copy of %s: %s gives \"%s\", want \"%s\"\n", cases[i].value,
                    cases[i].check, got, cases[i].want);
            ut_failures++;
        }
    }
}

/* deep(n): n objects each holding the next under k, the innermost {end: 1}. */
static const char *deep_src = "function deep(n) { var d = {}, c = d;"
                              " for (var i = 1; i < n; i++) { c.k = {}; c = c.k; }"
                              " c.end = 1; return d; }"
                              "function depth(v) { var n = 1; while (v.k) { v = v.k; n++; }"
                              " return n + ':' + v.end; }";

static void test_limits(duk_context *a, duk_context *b)
{
    ut_eval(a, deep_src);
    ut_eval(b, deep_src);
    CHECK_STR(roundtrip(a, b, "deep(1000)", "depth(v)"), "1000:1");
    CHECK_STR(roundtrip(a, b, "deep(1001)", "depth(v)"),
              "throws: RangeError: rampart.event.trigger: value nested more than 1000 levels");
    /* arrays count as levels too */
    CHECK_STR(roundtrip(a, b,
                        "(function () { var r = [], c = r; for (var i = 1; i < 1000; i++)"
                        " { c[0] = []; c = c[0]; } c[0] = 'in'; return r; })()",
                        "(function () { var n = 1, c = v; while (Array.isArray(c[0]))"
                        " { c = c[0]; n++; } return n + c[0]; })()"),
              "1000in");
    CHECK_STR(roundtrip(a, b, "(function () { var x = []; x.length = 4e9; return x; })()", "v"),
              "throws: RangeError: rampart.event.trigger: array longer than 16777216 elements");
    /* the heap that threw is fine afterwards */
    CHECK_STR(roundtrip(a, b, "[1, 2]", "JSON.stringify(v)"), "[1,2]");
}

static void test_corrupt_input(duk_context *b)
{
    /* decoding never loads code: any bytes give a value or an error */
    static const unsigned char junk[][6] = {
        {0}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {1, 2, 3, 4, 5, 6}, {9, 0, 0, 0, 200, 1}};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        encoded e = {(unsigned char *)junk[i], sizeof junk[i]};
        duk_safe_call(b, decode_safe, &e, 0, 1);
        duk_pop(b);
    }
    CHECK_STR(ut_eval(b, "1 + 1"), "2");
}

/* ---- snapshots --------------------------------------------------------------- */

static char tmpdir[] = "/tmp/ut-jsrt-copy-XXXXXX";

static const char *main_script =
    "var n = 40, s = 'str';\n"
    "function add(a, b) { return a + b + n; }\n"
    "var shared = {x: 1}, pair = [shared, shared];\n"
    "var cyc = {name: 'c'}; cyc.self = cyc;\n"
    "rampart.globalize(rampart.utils, ['printf']);\n"
    "var closure = (function () { var hidden = 1; return function () { return hidden; }; })();\n"
    "var m = require('snapmod');\n"
    "var bound = add.bind(null, 1);\n"
    "var when = new Date(5), bytes = new Uint8Array([3, 4]), nb = new Buffer('node');\n"
    "var re = /ab+c/i, pbuf = rampart.utils.stringToBuffer('plain');\n"
    "function boom() {\n  throw new Error('worker side');\n}\n"
    "var inner = (function () { var d = {}, c = d;"
    " for (var i = 1; i < 1003; i++) { c.k = {}; c = c.k; } return d; })();\n";

static const struct {
    const char *check, *want;
} snap_checks[] = {
    {"n + s", "40str"},
    {"add(1, 2)", "43"},
    /* the function is bound to this heap's globals */
    {"n = 0; var r = add(1, 2); n = 40; r", "3"},
    {"pair[0] === pair[1] && pair[0] === shared && shared.x", "1"},
    {"cyc.self === cyc && cyc.name", "c"},
    {"printf === rampart.utils.printf", "true"},
    {"closure()", "ReferenceError: identifier 'hidden' undefined"},
    {"m.hello() + ' ' + (m === require('snapmod'))", "hello from snapmod true"},
    {"typeof bound", "undefined"},
    {"when instanceof Date && when.getTime()", "5"},
    {"bytes instanceof Uint8Array && bytes.length + ',' + bytes[1]", "2,4"},
    {"Buffer.isBuffer(nb) && rampart.utils.bufferToString(nb)", "node"},
    {"rampart.utils.bufferToString(pbuf)", "plain"},
    {"re instanceof RegExp && re.test('xABBBC')", "true"},
    /* deeper than 1,000 levels: cut, not thrown */
    {"(function () { var k = 0, c = inner; while (c && c.k !== undefined) { c = c.k; k++; }"
     " return k; })()",
     "999"},
    /* what js_snapshot_add added, sharing with the globals */
    {"extra.s === shared && extra.list[1]", "b"},
};

static void check_snapshot_heap(duk_context *ctx, const js_snapshot *snap, const char *where)
{
    js_snapshot_push(snap, ctx, "extra");
    duk_put_global_string(ctx, "extra");
    for (size_t i = 0; i < sizeof snap_checks / sizeof snap_checks[0]; i++) {
        const char *got = ut_eval(ctx, snap_checks[i].check);
        if (strcmp(got, snap_checks[i].want) != 0) {
            fprintf(stderr, "snapshot (%s): %s gives \"%s\", want \"%s\"\n", where,
                    snap_checks[i].check, got, snap_checks[i].want);
            ut_failures++;
        }
    }
    /* a copied function's errors name the script it came from */
    CHECK(ut_push_eval(ctx, "boom()") == -1);
    const char *t = js_error_text(ctx, -1);
    CHECK_HAS(t, "Error: worker side");
    CHECK_HAS(t, "main.js:12");
    duk_pop_2(ctx);
}

static duk_ret_t take_safe(duk_context *ctx, void *udata)
{
    js_snapshot **snap = udata;
    *snap = js_snapshot_take(ctx);
    duk_eval_string(ctx, "({s: shared, list: ['a', 'b']})");
    js_snapshot_add(*snap, ctx, "extra", -1);
    return 0;
}

typedef struct {
    const js_snapshot *snap;
    int failures;
} thread_arg;

static void *apply_in_thread(void *p)
{
    thread_arg *t = p;
    int before = ut_failures;
    js_heap_opts o = {.script_dir = tmpdir, .snap = t->snap, .name = "thread heap"};
    duk_context *ctx = js_heap_new(&o); /* applies the snapshot */
    if (!ctx) {
        ut_failures++;
        return NULL;
    }
    check_snapshot_heap(ctx, t->snap, "another thread");
    js_heap_free(ctx);
    t->failures = ut_failures - before;
    return NULL;
}

static void test_snapshot(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(2);
    }
    char mod[256];
    snprintf(mod, sizeof mod, "%s/snapmod.js", tmpdir);
    ut_write_file(mod, "exports.hello = function () { return 'hello from snapmod'; };");
    duk_context *main_ctx = ut_heap(NULL, tmpdir);
    CHECK(ut_push_eval_file(main_ctx, main_script, "main.js") == 0);
    duk_pop(main_ctx);
    js_snapshot *snap = NULL;
    CHECK(duk_safe_call(main_ctx, take_safe, &snap, 0, 1) == DUK_EXEC_SUCCESS);
    duk_pop(main_ctx);
    if (!snap)
        return;

    duk_context *w = ut_heap(NULL, tmpdir);
    CHECK(js_snapshot_apply(snap, w) == 0);
    check_snapshot_heap(w, snap, "fresh heap");
    /* the worker's globals are its own */
    ut_eval(w, "shared.x = 99");
    CHECK_STR(ut_eval(main_ctx, "shared.x"), "1");
    js_heap_free(w);

    /* the bytes are the whole snapshot: a copy of them works alone */
    size_t len = 0;
    const void *bytes = js_snapshot_bytes(snap, &len);
    CHECK(bytes && len > 0);
    js_snapshot *copy = js_snapshot_from_bytes(bytes, len);
    CHECK(copy != NULL);
    if (copy) {
        duk_context *c = ut_heap(NULL, tmpdir);
        CHECK(js_snapshot_apply(copy, c) == 0);
        CHECK_STR(ut_eval(c, "add(1, 2) + ',' + (pair[0] === pair[1])"), "43,true");
        js_heap_free(c);
        js_snapshot_free(copy);
    }

    /* applied in another thread, as worker heaps are */
    thread_arg t = {snap, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, apply_in_thread, &t) == 0);
    pthread_join(th, NULL);
    CHECK(t.failures == 0);

    js_snapshot_free(snap);
    js_heap_free(main_ctx);
    unlink(mod);
    rmdir(tmpdir);
}

int main(void)
{
    rp_log_set_level(-1); /* a corrupt input is logged: keep the output to failures */
    duk_context *a = ut_heap(NULL, NULL), *b = ut_heap(NULL, NULL);
    test_every_value_type(a, b);
    test_limits(a, b);
    test_corrupt_input(b);
    js_heap_free(a);
    js_heap_free(b);
    test_snapshot();
    UT_DONE();
}
