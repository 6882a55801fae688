/* The runtime's CommonJS require (modules/mod_js/rt/require.c) called
 * directly on a heap: where js_require_resolve finds a name (the forms, the
 * order of the search directories), what js_require_push caches (one
 * instance per real path, a module run once, builtins once per heap), hot
 * reload when the file changes, cycles, and the errors. */
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "jsrt.h"

static char root[] = "/tmp/ut-jsrt-require-XXXXXX";
static char rootreal[PATH_MAX];

static const char *at(const char *rel)
{
    static char paths[4][PATH_MAX + 64];
    static unsigned k;
    char *p = paths[k++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", rootreal, rel);
    return p;
}

static void put(const char *rel, const char *text)
{
    char dir[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s", at(rel));
    for (char *s = strchr(dir + strlen(rootreal) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(dir, 0755);
        *s = '/';
    }
    ut_write_file(at(rel), text);
}

static const struct {
    const char *rel, *text;
} files[] = {
    {"lib/m1.js", "var n = 0; exports.inc = function () { return ++n; };\n"
                  "exports.file = __filename; exports.dir = __dirname;\n"
                  "exports.sub = require('./helper').name;\n"},
    {"lib/helper.js", "module.exports = {name: 'helper in lib'};"},
    {"helper.js", "module.exports = {name: 'helper in script dir'};"},
    {"data.json", "{\"a\": 1, \"list\": [1, 2]}"},
    {"pkg/index.js", "module.exports = 'pkg index';"},
    {"counted.js",
     "loads = (typeof loads === 'number' ? loads : 0) + 1; exports.t = this === exports;"},
    {"cwd/incwd.js", "module.exports = 'from cwd';"},
    {"cwd/both.js", "module.exports = 'both: cwd';"},
    {"both.js", "module.exports = 'both: script dir';"},
    {"extra/inpath.js", "module.exports = 'from RAMPART_PATH';"},
    {"hot.js", "module.exports = {v: 1};"},
    {"cyc_a.js", "exports.name = 'a'; var b = require('./cyc_b');\n"
                 "exports.fromB = b.name + ':' + b.sawA; exports.done = true;"},
    {"cyc_b.js", "var a = require('./cyc_a'); exports.name = 'b';\n"
                 "exports.sawA = a.name; exports.aDoneYet = !!a.done;"},
    {"bad_syntax.js", "var x = 1;\nvar y = ;\n"},
    {"bad_run.js", "var x = 1;\nnull.boom;\n"},
    {"bad.json", "{\"a\": }"},
};

/* js_require_resolve's answer relative to the root ("lib/m1.js"), or
 * "(none)". */
static const char *resolve(duk_context *ctx, const char *name, const char *from)
{
    char *p = js_require_resolve(ctx, name, from);
    if (!p)
        return "(none)";
    size_t n = strlen(rootreal);
    const char *t = ut_keep(strncmp(p, rootreal, n) == 0 && p[n] == '/' ? p + n + 1 : p);
    free(p);
    return t;
}

typedef struct {
    const char *name, *from;
} req_arg;

static duk_ret_t require_safe(duk_context *ctx, void *udata)
{
    req_arg *r = udata;
    js_require_push(ctx, r->name, r->from);
    duk_put_global_string(ctx, "r");
    return 0;
}

/* js_require_push(name, from) into the global r; "ok" or the error. */
static const char *req(duk_context *ctx, const char *name, const char *from)
{
    req_arg r = {name, from};
    if (duk_safe_call(ctx, require_safe, &r, 0, 1) != DUK_EXEC_SUCCESS)
        return ut_pop_text(ctx);
    duk_pop(ctx);
    return "ok";
}

static void test_resolution(duk_context *ctx)
{
    CHECK_STR(resolve(ctx, "lib/m1", NULL), "lib/m1.js");
    CHECK_STR(resolve(ctx, "lib/m1.js", NULL), "lib/m1.js");
    CHECK_STR(resolve(ctx, at("lib/m1"), NULL), "lib/m1.js"); /* absolute */
    CHECK_STR(resolve(ctx, "data", NULL), "data.json");
    CHECK_STR(resolve(ctx, "pkg", NULL), "pkg/index.js");
    /* the requiring file's directory first, then the script's */
    CHECK_STR(resolve(ctx, "helper", at("lib")), "lib/helper.js");
    CHECK_STR(resolve(ctx, "helper", NULL), "helper.js");
    /* "./x" and "../x": the requiring directory only */
    CHECK_STR(resolve(ctx, "./helper", at("lib")), "lib/helper.js");
    CHECK_STR(resolve(ctx, "./helper", at("pkg")), "(none)");
    CHECK_STR(resolve(ctx, "../helper", at("pkg")), "helper.js");
    CHECK_STR(resolve(ctx, "no_such_module", NULL), "(none)");
    CHECK_STR(resolve(ctx, "unit-builtin", NULL), "(none)"); /* builtins have no path */

    /* then the current directory, then $RAMPART_PATH */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(at("cwd")) == 0);
    CHECK_STR(resolve(ctx, "incwd", NULL), "cwd/incwd.js");
    CHECK_STR(resolve(ctx, "both", NULL), "both.js"); /* the script's directory wins */
    CHECK_STR(resolve(ctx, "inpath", NULL), "(none)");
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "/nonexistent:%s", at("extra"));
    setenv("RAMPART_PATH", path, 1);
    CHECK_STR(resolve(ctx, "inpath", NULL), "extra/inpath.js");
    unsetenv("RAMPART_PATH");
    CHECK(chdir(cwd) == 0);
}

static void test_loading_and_cache(duk_context *ctx)
{
    CHECK_STR(req(ctx, "lib/m1", NULL), "ok");
    ut_eval(ctx, "var a = r");
    CHECK_STR(req(ctx, "./lib/m1.js", rootreal), "ok");
    CHECK_STR(ut_eval(ctx, "a === r && a.inc() + r.inc()"), "3");
    char want[PATH_MAX * 2 + 128];
    snprintf(want, sizeof want, "%s %s helper in lib", at("lib/m1.js"), at("lib"));
    CHECK_STR(ut_eval(ctx, "a.file + ' ' + a.dir + ' ' + a.sub"), want);
    /* a module runs once, with this === exports */
    CHECK_STR(req(ctx, "counted", NULL), "ok");
    CHECK_STR(req(ctx, "counted.js", NULL), "ok");
    CHECK_STR(req(ctx, at("counted.js"), NULL), "ok");
    CHECK_STR(ut_eval(ctx, "loads + ' ' + r.t"), "1 true");
    /* JSON modules, and the same file under two names */
    CHECK_STR(req(ctx, "data", NULL), "ok");
    ut_eval(ctx, "var d = r");
    CHECK_STR(req(ctx, "data.json", NULL), "ok");
    CHECK_STR(ut_eval(ctx, "JSON.stringify(d) + (d === r)"), "{\"a\":1,\"list\":[1,2]}true");
    CHECK_STR(req(ctx, "pkg", NULL), "ok");
    CHECK_STR(ut_eval(ctx, "r"), "pkg index");
    /* a cycle yields the exports so far */
    CHECK_STR(req(ctx, "cyc_a", NULL), "ok");
    ut_eval(ctx, "var ca = r");
    CHECK_STR(req(ctx, "cyc_b", NULL), "ok");
    CHECK_STR(ut_eval(ctx, "ca.fromB + ' ' + r.aDoneYet + ' ' + ca.done"), "b:a false true");
}

static void test_hot_reload(duk_context *ctx)
{
    CHECK_STR(req(ctx, "hot", NULL), "ok");
    ut_eval(ctx, "var h1 = r");
    CHECK_STR(req(ctx, "hot", NULL), "ok");
    CHECK_STR(ut_eval(ctx, "h1 === r && r.v"), "1");
    put("hot.js", "module.exports = {v: 22};"); /* another size: changed whatever the clock */
    CHECK_STR(req(ctx, "hot", NULL), "ok");
    CHECK_STR(ut_eval(ctx, "(h1 !== r) + ' ' + r.v"), "true 22");
    ut_eval(ctx, "var h2 = r");
    CHECK_STR(req(ctx, "hot", NULL), "ok");
    CHECK_STR(ut_eval(ctx, "h2 === r"), "true");
}

static void test_errors(duk_context *ctx)
{
    char want[PATH_MAX + 128];
    snprintf(want, sizeof want, "Error: require: cannot find module 'no_such' (searched %s",
             rootreal);
    CHECK_HAS(req(ctx, "no_such", NULL), want);
    CHECK_HAS(req(ctx, "./also_missing", rootreal), "cannot find module './also_missing'");
    const char *e = req(ctx, "bad_syntax", NULL);
    CHECK_HAS(e, "SyntaxError");
    CHECK_HAS(e, at("bad_syntax.js"));
    CHECK_HAS(req(ctx, "bad_run", NULL), "TypeError: cannot read property 'boom' of null");
    /* a module that failed is not cached half-done: it runs (and fails) again */
    CHECK_HAS(req(ctx, "bad_run", NULL), "TypeError");
    snprintf(want, sizeof want, "require: JSON module '%s'", at("bad.json"));
    CHECK_HAS(req(ctx, "bad.json", NULL), want);
}

static int builtin_loads;

static duk_ret_t load_builtin(duk_context *ctx)
{
    builtin_loads++;
    duk_push_object(ctx);
    duk_push_int(ctx, builtin_loads);
    duk_put_prop_string(ctx, -2, "load");
    return 1;
}

static void test_builtins(void)
{
    duk_context *a = ut_heap(NULL, rootreal), *b = ut_heap(NULL, rootreal);
    CHECK_STR(req(a, "unit-builtin", NULL), "ok");
    ut_eval(a, "var first = r");
    CHECK_STR(req(a, "unit-builtin", NULL), "ok");
    CHECK_STR(ut_eval(a, "first === r && r.load"), "1");
    CHECK_STR(req(b, "unit-builtin", NULL), "ok"); /* each heap its own instance */
    CHECK_STR(ut_eval(b, "r.load"), "2");
    js_heap_free(a);
    js_heap_free(b);
}

static void remove_tree(const char *dir)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (strncmp(dir, "/tmp/ut-jsrt-", 13) == 0 && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
    if (!mkdtemp(root) || !realpath(root, rootreal)) {
        perror("mkdtemp");
        return 2;
    }
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        put(files[i].rel, files[i].text);
    js_builtin_register("unit-builtin", load_builtin);
    duk_context *ctx = ut_heap(NULL, rootreal);
    test_resolution(ctx);
    test_loading_and_cache(ctx);
    test_hot_reload(ctx);
    test_errors(ctx);
    js_heap_free(ctx);
    test_builtins();
    remove_tree(rootreal);
    UT_DONE();
}
