/* The runtime's printf engine (modules/mod_js/rt/format.c) called directly:
 * js_format with the arguments on a heap's value stack, as req.printf and
 * rampart.utils.printf call it - every conversion, flags, width and
 * precision (also "*"), %J with an indent (%3J), the URL, HTML and base64
 * codecs both ways, the byte count and the errors. */
#include "jsrt.h"

/* js_format's output collected in pieces, as a server buffer gets it. */
typedef struct {
    char text[4096];
    size_t len;
    int pieces;
} collected;

static void collect(void *arg, const char *data, size_t len)
{
    collected *c = arg;
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, data, len);
        c->len += len;
        c->text[c->len] = '\0';
    }
    c->pieces++;
}

typedef struct {
    const char *args; /* a JavaScript array: [format, arg...] */
    collected out;
    size_t returned;
} format_call;

static duk_ret_t format_safe(duk_context *ctx, void *udata)
{
    format_call *f = udata;
    duk_eval_string(ctx, f->args);
    duk_idx_t arr = duk_get_top_index(ctx);
    duk_size_t n = duk_get_length(ctx, arr);
    for (duk_size_t i = 0; i < n; i++)
        duk_get_prop_index(ctx, arr, (duk_uarridx_t)i);
    f->returned = js_format(ctx, arr + 1, collect, &f->out);
    return 0;
}

/* js_format of the array args ("['%d', 1]"); the text, or the error's
 * "Name: message". */
static const char *fmt(duk_context *ctx, const char *args)
{
    format_call f = {.args = args};
    if (duk_safe_call(ctx, format_safe, &f, 0, 1) != DUK_EXEC_SUCCESS)
        return ut_pop_text(ctx);
    duk_pop(ctx);
    if (f.returned != f.out.len) {
        fprintf(stderr, "js_format(%s) returned %zu for %zu bytes\n", args, f.returned, f.out.len);
        ut_failures++;
    }
    return ut_keep(f.out.text);
}

static void test_conversions(duk_context *ctx)
{
    static const struct {
        const char *args, *want;
    } cases[] = {
        {"['%s|%5s|%-5s|%.2s', 'ab', 'cd', 'ef', 'ghij']", "ab|   cd|ef   |gh"},
        {"['%s %s %s', 1.5, null, true]", "1.5 null true"},
        {"['%s', {toString: function () { return 'custom'; }}]", "custom"},
        {"['%s', rampart.utils.stringToBuffer('buf bytes')]", "buf bytes"},
        {"['%3s|%-3s|', '\\u00e9', '\\u00e9']", "  \\u00e9|\\u00e9  |"},
        {"['%d %i %d %d', 42, -7.9, '12', 3e3]", "42 -7 12 3000"},
        {"['%05d|%+d|% d|%-4d|', 42, 5, 6, 7]", "00042|+5| 6|7   |"},
        {"['%u', 3000000000]", "3000000000"},
        {"['%d %s', NaN, undefined]", "NaN undefined"},
        {"['%f|%.2f|%.0f|%8.3f', 1.5, 3.14159, 2.5, -1]", "1.500000|3.14|2|  -1.000"},
        {"['%F', 2]", "2.000000"},
        {"['%e %E %g %G', 12345.678, 0.5, 0.0001, 1e-10]",
         "1.234568e+04 5.000000E-01 0.0001 1E-10"},
        {"['%x %X %o %#x %#o', 255, 255, 8, 16, 8]", "ff FF 10 0x10 010"},
        {"['%c%c%c', 72, 'iya', 0x20AC]", "Hi\\u20ac"},
        {"['100%% %s', 'sure']", "100% sure"},
        {"['%*d|%-*d|%.*f', 4, 1, 3, 2, 2, 3.14159]", "   1|2  |3.14"},
        {"['%J', {a: [1, 'x', null], b: true}]", "{\"a\":[1,\"x\",null],\"b\":true}"},
        {"['%3J', {a: [1]}]", "{\n   \"a\": [\n      1\n   ]\n}"},
        {"['%J', 'str']", "\"str\""},
        {"['%U', 'a b&c/d=\\u00e9~']", "a%20b%26c%2Fd%3D%C3%A9~"},
        {"['%!U', 'a%20b+c%2F']", "a b c/"},
        {"['%H', '<a href=\"x\">&\\'</a>']", "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"},
        {"['%!H', '&lt;b&gt; &amp;amp; &quot;q&quot; &#39;']", "<b> &amp; \"q\" '"},
        {"['%B', 'hello']", "aGVsbG8="},
        {"['%!B', 'aGVsbG8=']", "hello"},
        {"['no args']", "no args"},
        {"['']", ""},
        {"['extra args are ignored', 1, 2]", "extra args are ignored"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* the expected text may hold \u escapes: let the heap decode them */
        char src[512];
        snprintf(src, sizeof src, "'%s'", cases[i].want);
        const char *want = strstr(cases[i].want, "\\u") ? ut_eval(ctx, src) : cases[i].want;
        const char *got = fmt(ctx, cases[i].args);
        if (strcmp(got, want) != 0) {
            fprintf(stderr, "js_format(%s): got \"%s\", want \"%s\"\n", cases[i].args, got, want);
            ut_failures++;
        }
    }
}

static void test_errors(duk_context *ctx)
{
    CHECK_STR(fmt(ctx, "['%d %d', 1]"), "TypeError: printf: no argument left for %d in format");
    CHECK_STR(fmt(ctx, "['%q', 1]"), "TypeError: printf: unknown format '%q'");
    CHECK_STR(fmt(ctx, "['abc %']"), "TypeError: printf: format ends inside a % directive");
    CHECK_HAS(fmt(ctx, "(function () { var c = {}; c.c = c; return ['%J', c]; })()"), "TypeError");
    /* the heap goes on after each */
    CHECK_STR(fmt(ctx, "['%s', 'ok']"), "ok");
}

static void test_pieces_and_count(duk_context *ctx)
{
    /* multi-byte text counts bytes, and the output arrives in pieces
     * (literal runs and conversions), never as one copy of the whole */
    format_call f = {.args = "['\\u00e9t\\u00e9 %s and %d', 'x', 12]"};
    CHECK(duk_safe_call(ctx, format_safe, &f, 0, 1) == DUK_EXEC_SUCCESS);
    duk_pop(ctx);
    CHECK(f.returned == strlen("\xc3\xa9t\xc3\xa9 x and 12"));
    CHECK_STR(f.out.text, "\xc3\xa9t\xc3\xa9 x and 12");
    CHECK(f.out.pieces >= 3);
}

static duk_ret_t sprintf_safe(duk_context *ctx, void *udata)
{
    (void)udata;
    duk_push_string(ctx, "%s=%05.1f");
    duk_push_string(ctx, "pi");
    duk_push_number(ctx, 3.14159);
    js_sprintf_push(ctx, -3);
    return 1;
}

static duk_ret_t json_safe(duk_context *ctx, void *udata)
{
    duk_eval_string(ctx, "({a: [1, {b: null}]})");
    js_json_push(ctx, -1, *(int *)udata);
    return 1;
}

static void test_helpers(duk_context *ctx)
{
    duk_safe_call(ctx, sprintf_safe, NULL, 0, 1);
    CHECK_STR(ut_pop_text(ctx), "pi=003.1");
    int indent = 0;
    duk_safe_call(ctx, json_safe, &indent, 0, 1);
    CHECK_STR(ut_pop_text(ctx), "{\"a\":[1,{\"b\":null}]}");
    indent = 1;
    duk_safe_call(ctx, json_safe, &indent, 0, 1);
    CHECK_STR(ut_pop_text(ctx), "{\n \"a\": [\n  1,\n  {\n   \"b\": null\n  }\n ]\n}");
    /* console.log's text of values: strings raw, objects as JSON, cycles marked */
    static const struct {
        const char *value, *want;
    } seen[] = {{"'raw'", "raw"},
                {"({a: 1})", "{\"a\":1}"},
                {"[1, 'two']", "[1,\"two\"]"},
                {"(function () { var c = [1]; c.push(c); return c; })()", "[Array (circular)]"},
                {"(function () { var c = {}; c.c = c; return c; })()", "[Object (circular)]"},
                {"(function named() {})", "[Function: named]"},
                {"undefined", "undefined"}};
    for (size_t i = 0; i < sizeof seen / sizeof seen[0]; i++) {
        CHECK(ut_push_eval(ctx, seen[i].value) == 0);
        js_inspect_push(ctx, -1);
        CHECK_STR(ut_pop_text(ctx), seen[i].want);
        duk_pop(ctx);
    }
}

int main(void)
{
    duk_context *ctx = ut_heap(NULL, NULL);
    test_conversions(ctx);
    test_errors(ctx);
    test_pieces_and_count(ctx);
    test_helpers(ctx);
    js_heap_free(ctx);
    UT_DONE();
}
