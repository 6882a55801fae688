/* The three property helpers mod_js appends to its Duktape
 * (modules/mod_js/duk_ownkeys.inc, for the per-request paths of req.c and
 * reply.c), each checked against what the general Duktape call it replaces
 * gives on the same objects:
 *  - rp_duk_own_key walks the keys in duk_enum's order, or says -1;
 *  - rp_duk_def_accessor defines what duk_def_prop defines;
 *  - rp_duk_accessor_to_data converts in place, or leaves alone;
 *  - rp_duk_get_own_slot reads the slot a walk found while it still holds
 *    that key as data, and declines once the object changed;
 *  - rp_duk_push_shape_copy makes an object that reads, lists and
 *    describes as its template, filled slots aside, and is independent of it. */
#include "jsrt.h"

duk_int_t rp_duk_own_key(duk_context *ctx, duk_idx_t idx, duk_uint_t *pos, const char **key,
                         duk_size_t *len, duk_bool_t *enumerable, duk_bool_t *plain_proto);
void rp_duk_def_accessor(duk_context *ctx, duk_idx_t obj_idx);
duk_bool_t rp_duk_accessor_to_data(duk_context *ctx, duk_idx_t obj_idx, duk_idx_t key_idx);
void rp_duk_push_shape_copy(duk_context *ctx, duk_idx_t n);
duk_bool_t rp_duk_get_own_slot(duk_context *ctx, duk_idx_t idx, duk_uint_t pos, const char *key);

/* The enumerable keys by the walk ("a,b"), "-1" when it declines, and
 * whether the prototype is plain (" plain" appended). */
static const char *walk(duk_context *ctx, const char *src)
{
    static char out[512];
    out[0] = '\0';
    if (ut_push_eval(ctx, src) != 0)
        return ut_pop_text(ctx);
    duk_uint_t pos = 0;
    const char *k;
    duk_size_t n;
    duk_bool_t en, plain = 0;
    int rc;
    while ((rc = rp_duk_own_key(ctx, -1, &pos, &k, &n, &en, &plain)) == 1)
        if (en)
            snprintf(out + strlen(out), sizeof out - strlen(out), "%s%.*s", out[0] ? "," : "",
                     (int)n, k);
    if (rc < 0)
        snprintf(out, sizeof out, "-1");
    else if (plain)
        snprintf(out + strlen(out), sizeof out - strlen(out), " plain");
    duk_pop(ctx);
    return ut_keep(out);
}

/* The same keys as duk_enum lists them, for comparison. */
static const char *enumerated(duk_context *ctx, const char *src)
{
    char out[512] = "";
    CHECK(ut_push_eval(ctx, src) == 0);
    duk_enum(ctx, -1, DUK_ENUM_OWN_PROPERTIES_ONLY);
    while (duk_next(ctx, -1, 0)) {
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", out[0] ? "," : "",
                 duk_get_string(ctx, -1));
        duk_pop(ctx);
    }
    duk_pop_2(ctx);
    return ut_keep(out);
}

static void test_own_keys(duk_context *ctx)
{
    static const char *const same[] = {
        "({html: 'x', status: 200})",
        "(function () { var o = {a: 1, b: 2, c: 3}; delete o.b; o.d = 4; return o; })()",
        "Object.defineProperty({a: 1, z: 2}, 'hidden', {value: 3, enumerable: false})",
        "(function () { var o = {a: 1}; o[Symbol('s')] = 2; o.b = 3; return o; })()",
        "Object.defineProperty({}, 'g', {get: function () { return 1; }, enumerable: true})",
        "({})",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        char w[512];
        snprintf(w, sizeof w, "%s", walk(ctx, same[i]));
        char *plain = strstr(w, " plain");
        CHECK(plain != NULL);
        if (plain)
            *plain = '\0';
        const char *e = enumerated(ctx, same[i]);
        if (strcmp(w, e) != 0) {
            fprintf(stderr, "own keys of %s: walk \"%s\", duk_enum \"%s\"\n", same[i], w, e);
            ut_failures++;
        }
    }
    /* the prototype: plain for Object.prototype and null only */
    CHECK_STR(walk(ctx, "Object.create(null)"), " plain");
    CHECK_STR(walk(ctx, "Object.create({status: 404})"), "");
    CHECK_STR(walk(ctx, "new (function K() { this.html = 'x'; })()"), "html");
    /* what the walk declines: duk_enum's business */
    CHECK_STR(walk(ctx, "[1, 2]"), "-1");
    CHECK_STR(walk(ctx, "new String('ab')"), "-1");
    CHECK_STR(walk(ctx, "new Proxy({a: 1}, {})"), "-1");
    CHECK_STR(walk(ctx, "(function () { return arguments; })(1)"), "-1");
}

static duk_ret_t def_both(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_eval_string(ctx, "[function () { return 'got ' + this.tag; },"
                         " function (v) { this.tag = v; }]");
    duk_idx_t fns = duk_get_top_index(ctx);
    for (int fast = 0; fast < 2; fast++) {
        duk_push_object(ctx);
        duk_push_string(ctx, fast ? "fast" : "slow");
        duk_put_prop_string(ctx, -2, "tag");
        duk_push_string(ctx, "m");
        duk_get_prop_index(ctx, fns, 0);
        duk_get_prop_index(ctx, fns, 1);
        if (fast)
            rp_duk_def_accessor(ctx, -4);
        else
            duk_def_prop(ctx, -4,
                         DUK_DEFPROP_HAVE_GETTER | DUK_DEFPROP_HAVE_SETTER |
                             DUK_DEFPROP_SET_ENUMERABLE | DUK_DEFPROP_SET_CONFIGURABLE);
        duk_put_global_string(ctx, fast ? "fast" : "slow");
    }
    return 0;
}

static void test_def_accessor(duk_context *ctx)
{
    CHECK(duk_safe_call(ctx, def_both, NULL, 0, 1) == DUK_EXEC_SUCCESS);
    duk_pop(ctx);
    const char *desc = "(function (o) { var d = Object.getOwnPropertyDescriptor(o, 'm');"
                       " return [typeof d.get, typeof d.set, d.enumerable, d.configurable,"
                       " 'value' in d, Object.keys(o).join()].join(); })";
    char src[512];
    snprintf(src, sizeof src, "%s(fast)", desc);
    const char *f = ut_eval(ctx, src);
    snprintf(src, sizeof src, "%s(slow)", desc);
    CHECK_STR(f, ut_eval(ctx, src));
    CHECK_STR(f, "function,function,true,true,false,tag,m");
    CHECK_STR(ut_eval(ctx, "fast.m"), "got fast");
    CHECK_STR(ut_eval(ctx, "fast.m = 'set'; fast.tag"), "set");
}

/* Converts o[key] (the global o) to data holding value; 1 if in place. */
static int to_data(duk_context *ctx, const char *key, const char *value)
{
    duk_get_global_string(ctx, "o");
    duk_push_string(ctx, key);
    duk_push_string(ctx, value);
    int rc = rp_duk_accessor_to_data(ctx, -3, -2);
    duk_pop_3(ctx);
    return rc;
}

static void test_accessor_to_data(duk_context *ctx)
{
    ut_eval(ctx,
            "var o = {}; var g = function () { return 'g'; };"
            " Object.defineProperty(o, 'a', {get: g, enumerable: true, configurable: true});"
            " o.b = 2;"
            " Object.defineProperty(o, 'c', {get: g, enumerable: false, configurable: true});"
            " Object.defineProperty(o, 'd', {get: g, enumerable: true, configurable: false});");
    CHECK(to_data(ctx, "a", "A") == 1);
    CHECK(to_data(ctx, "c", "C") == 1);
    CHECK(to_data(ctx, "b", "B") == 0); /* a data property already */
    CHECK(to_data(ctx, "d", "D") == 0); /* not configurable */
    CHECK(to_data(ctx, "none", "N") == 0);
    CHECK_STR(ut_eval(ctx, "Object.keys(o).join() + ' ' + o.a + o.b + o.c + o.d"), "a,b,d A2Cg");
    CHECK_STR(ut_eval(ctx,
                      "var d = Object.getOwnPropertyDescriptor(o, 'a');"
                      " [d.value, d.writable, d.enumerable, d.configurable, 'get' in d].join()"),
              "A,true,true,true,false");
    CHECK_STR(ut_eval(ctx, "Object.getOwnPropertyDescriptor(o, 'c').enumerable"), "false");
    CHECK_STR(ut_eval(ctx, "o.a = 'w'; o.a"), "w");
    /* the getter lives on where it is still used */
    CHECK_STR(ut_eval(ctx, "o.d + g()"), "gg");
}

/* copies = [a copy of tmpl with 'one' and 2 in its first slots, then 100
 * copies with 'again' and 3, 4 ...]. */
static duk_ret_t copy_shape(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_push_array(ctx);
    for (int i = 0; i < 101; i++) {
        duk_push_string(ctx, i ? "again" : "one");
        duk_push_int(ctx, 2 + i);
        duk_get_global_string(ctx, "tmpl");
        rp_duk_push_shape_copy(ctx, 2);
        duk_put_prop_index(ctx, -2, (duk_uarridx_t)i);
    }
    duk_put_global_string(ctx, "copies");
    return 0;
}

static duk_ret_t copy_refused(duk_context *ctx, void *udata)
{
    duk_push_string(ctx, "x");
    duk_eval_string(ctx, (const char *)udata);
    rp_duk_push_shape_copy(ctx, 1);
    return 1;
}

static void test_shape_copy(duk_context *ctx)
{
    ut_eval(ctx, "var g = function () { return 'got ' + this.a; };"
                 " var tmpl = {a: 0, b: 0}; tmpl.c = 'kept';"
                 " Object.defineProperty(tmpl, 'd', {get: g, set: function (v) {"
                 " Object.defineProperty(this, 'd', {value: v, writable: true,"
                 " enumerable: true, configurable: true}); },"
                 " enumerable: true, configurable: true});"
                 " Object.defineProperty(tmpl, 'h', {value: 'hid', enumerable: false});"
                 " tmpl[Symbol.for('s')] = 'sym';"
                 " for (var i = 0; i < 20; i++) tmpl['k' + i] = i;");
    CHECK(duk_safe_call(ctx, copy_shape, NULL, 0, 1) == DUK_EXEC_SUCCESS);
    duk_pop(ctx);
    duk_gc(ctx, 0);
    const char *shape = "(function (o) { var d = Object.getOwnPropertyDescriptor(o, 'd'),"
                        " h = Object.getOwnPropertyDescriptor(o, 'h');"
                        " return [Object.keys(o).join(), Object.getOwnPropertyNames(o).length,"
                        " typeof d.get, d.enumerable, h.enumerable, h.writable,"
                        " o[Symbol.for('s')], o.c, o.k19].join(' '); })";
    char src[1024];
    snprintf(src, sizeof src, "%s(copies[0]) === %s(tmpl)", shape, shape);
    CHECK_STR(ut_eval(ctx, src), "true");
    CHECK_STR(ut_eval(ctx, "Object.getPrototypeOf(copies[0])"), "null");
    CHECK_STR(ut_eval(ctx, "[copies[0].a, copies[0].b, copies[0].d, copies[100].a,"
                           " copies[100].b].join()"),
              "one,2,got one,again,102");
    /* changes to a copy stay in it */
    CHECK_STR(ut_eval(ctx, "var o = copies[0]; o.d = 'set'; o.c = 'changed'; delete o.k0;"
                           " o.extra = 1; [o.d, o.c, 'k0' in o, Object.keys(o).length,"
                           " tmpl.d, tmpl.c, tmpl.k0, 'extra' in tmpl,"
                           " copies[1].c].join()"),
              "set,changed,false,24,got 0,kept,0,false,kept");
    /* the template outlives its copies, and the copies the template */
    CHECK_STR(ut_eval(ctx, "copies = null; 'ok'"), "ok");
    duk_gc(ctx, 0);
    CHECK_STR(ut_eval(ctx, "tmpl.d + ' ' + tmpl.c"), "got 0 kept");
    CHECK(duk_safe_call(ctx, copy_shape, NULL, 0, 1) == DUK_EXEC_SUCCESS);
    duk_pop(ctx);
    CHECK_STR(ut_eval(ctx, "tmpl = null; 'ok'"), "ok");
    duk_gc(ctx, 0);
    CHECK_STR(ut_eval(ctx, "copies[7].d + ' ' + copies[7].c"), "got again kept");
    /* refused: an array, a template whose first slot is an accessor */
    CHECK(duk_safe_call(ctx, copy_refused, (void *)"[1, 2]", 0, 1) == DUK_EXEC_ERROR);
    duk_pop(ctx);
    CHECK(duk_safe_call(ctx, copy_refused,
                        (void *)"Object.defineProperty({}, 'a', {get: function () {},"
                                " enumerable: true, configurable: true})",
                        0, 1) == DUK_EXEC_ERROR);
    duk_pop(ctx);
}

/* Walk the global o to key, change it by the script change, then read the
 * slot: the value's text, or "declined". */
static const char *slot_after(duk_context *ctx, const char *key, const char *change)
{
    duk_get_global_string(ctx, "o");
    duk_uint_t pos = 0;
    const char *k = NULL, *found = NULL;
    duk_size_t n;
    duk_bool_t en;
    while (rp_duk_own_key(ctx, -1, &pos, &k, &n, &en, NULL) == 1)
        if (strlen(key) == n && memcmp(k, key, n) == 0) {
            found = k;
            break;
        }
    CHECK(found != NULL);
    ut_eval(ctx, change);
    const char *out = "declined";
    if (rp_duk_get_own_slot(ctx, -1, pos, found))
        out = ut_pop_text(ctx);
    duk_pop(ctx);
    return out;
}

static void test_own_slot(duk_context *ctx)
{
    ut_eval(ctx, "var o = {status: 200, html: 'x', json: 1};");
    CHECK_STR(slot_after(ctx, "html", "o.status = 404; o.html = 'y';"), "y");
    CHECK_STR(slot_after(ctx, "html", "delete o.html; o.html = 'z';"), "declined");
    CHECK_STR(slot_after(ctx, "json",
                         "Object.defineProperty(o, 'json', {get: function () { return 2; }});"),
              "declined");
    CHECK_STR(slot_after(ctx, "status", "o = {};"), "404"); /* the object walked, still held */
}

int main(void)
{
    duk_context *ctx = ut_heap(NULL, NULL);
    test_own_keys(ctx);
    test_def_accessor(ctx);
    test_accessor_to_data(ctx);
    test_shape_copy(ctx);
    test_own_slot(ctx);
    js_heap_free(ctx);
    UT_DONE();
}
