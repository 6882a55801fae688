/* The number-to-text fast path (modules/mod_js/rt/numfmt.c) against a
 * reference built from the C library: the fewest %.*e digits that read back
 * as x (strtod), written as ECMAScript's Number::toString writes them.  Up to
 * 15 digits the shortest text is unique, so the two must agree wherever the
 * fast path answers; and it must answer for every short decimal in its
 * range.  Then through a heap: String(), JSON.stringify and "" + x give the
 * same text as Dragon4 gave before (fixed expectations). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include "jsrt.h"

size_t rp_duk_short_decimal(double x, int neg, char *buf);

/* The shortest round-tripping digits of x > 0 in ECMAScript's decimal form
 * (no exponent: only called for 1e-6 <= x < 1e15); returns the number of
 * significant digits. */
static int reference(double x, int neg, char *out)
{
    char e[40];
    int p;
    for (p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, x);
        if (strtod(e, NULL) == x)
            break;
    }
    /* e: d.ddddde[+-]XX */
    char digits[20];
    int nd = 0;
    for (const char *s = e; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9')
            digits[nd++] = *s;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int exp10 = atoi(strchr(e, 'e') + 1) + 1; /* the spec's n */
    char *o = out;
    if (neg)
        *o++ = '-';
    if (exp10 <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -exp10; i++)
            *o++ = '0';
        memcpy(o, digits, (size_t)nd);
        o += nd;
    } else {
        for (int i = 0; i < exp10 || i < nd; i++) {
            if (i == exp10)
                *o++ = '.';
            *o++ = i < nd ? digits[i] : '0';
        }
    }
    *o = '\0';
    return nd;
}

static uint64_t rng = 88172645463325252u;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void check_one(double x, int must_answer)
{
    char got[32], want[48];
    int neg = x < 0;
    double a = neg ? -x : x;
    size_t n = rp_duk_short_decimal(a, neg, got);
    if (n == 0) {
        CHECK_MSG(!must_answer, "%.17g: no fast answer", x);
        return;
    }
    got[n] = '\0';
    int nd = reference(a, neg, want);
    CHECK_MSG(nd <= 15, "%.17g answered with %d digits", x, nd);
    CHECK_MSG(strcmp(got, want) == 0, "%.17g: got %s, want %s", x, got, want);
}

static void test_table(void)
{
    static const struct {
        double x;
        const char *text; /* NULL: left to Dragon4 */
    } cases[] = {
        {19.99, "19.99"},
        {4.5, "4.5"},
        {1.25, "1.25"},
        {0.1, "0.1"},
        {1e-6, "0.000001"},
        {1.5e-6, "0.0000015"},
        {123456789012345.6, NULL}, /* 16 digits */
        {9999999999999.98, "9999999999999.98"},
        {1234.5678, "1234.5678"},
        {4294967296.5, "4294967296.5"},
        {1.23456789012345e-6, "0.00000123456789012345"},
        {0.1 + 0.2, NULL},
        {9.99e-7, NULL},
        {1e15, NULL},
        {2.0 / 3.0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        size_t n = rp_duk_short_decimal(cases[i].x, 0, buf);
        buf[n] = '\0';
        if (cases[i].text)
            CHECK_STR(buf, cases[i].text);
        else
            CHECK_MSG(n == 0, "%.17g: got %s, want Dragon4", cases[i].x, buf);
    }
    char buf[32];
    size_t n = rp_duk_short_decimal(19.99, 1, buf);
    buf[n] = '\0';
    CHECK_STR(buf, "-19.99");
}

/* Short decimals m / 10^k (must be answered), and random doubles over the
 * range (answered or not; right when answered). */
static void test_random(void)
{
    for (int i = 0; i < 200000; i++) {
        int digits = 1 + (int)(next() % 15), k = (int)(next() % 22);
        uint64_t lim = 1;
        for (int d = 0; d < digits; d++)
            lim *= 10;
        uint64_t m = 1 + next() % (lim - 1);
        double x = (double)m / pow(10, k);
        check_one(x, x >= 1e-6 && x < 1e15 && m < lim);
        check_one(-x, x >= 1e-6 && x < 1e15);
        double r = ldexp((double)(next() >> 11), -53) * pow(10, (int)(next() % 24) - 8);
        check_one(r, 0);
    }
}

static void test_heap(void)
{
    duk_context *ctx = ut_heap(NULL, NULL);
    CHECK_STR(ut_eval(ctx, "String(19.99) + ' ' + (-4.5) + ' ' + 1.25"), "19.99 -4.5 1.25");
    CHECK_STR(ut_eval(ctx, "JSON.stringify({p: 19.99, r: 4.5, w: [1.25, 0.000001, 1e-7]})"),
              "{\"p\":19.99,\"r\":4.5,\"w\":[1.25,0.000001,1e-7]}");
    CHECK_STR(ut_eval(ctx, "String(0.1 + 0.2) + ' ' + 1e21 + ' ' + 123456789012345.6"),
              "0.30000000000000004 1e+21 123456789012345.6");
    CHECK_STR(
        ut_eval(ctx, "(19.99).toFixed(1) + ' ' + (4.5).toString(2) + ' ' + (0.5).toExponential()"),
        "20.0 100.1 5e-1");
    js_heap_free(ctx);
}

int main(void)
{
    test_table();
    test_random();
    test_heap();
    UT_DONE();
}
