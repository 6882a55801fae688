/* numfmt.c - a fast path for Duktape's number-to-text conversion.
 *
 * Duktape turns every non-integer number into text (String(x), JSON, "" + x)
 * with Dragon4 on bignums: about 3,000 instructions for 19.99, which was an
 * eighth of a JSON API route.  The numbers real answers carry are short
 * decimals (prices, ratings, weights), and for those the shortest text can be
 * found with a few double operations: try m / 10^k for k = 0, 1, 2 ... with
 * m = round(x * 10^k), and stop at the first k whose m / 10^k is x again.
 *
 * Why that is exactly Duktape's (ECMAScript's) answer:
 *  - m and 10^k are exact doubles (m < 10^15 < 2^53, k <= 21 < 23), so the
 *    division is correctly rounded: m / 10^k == x means that the decimal
 *    m * 10^-k reads back as x, as the specification's shortest text must.
 *  - The first k that works gives the fewest fraction digits, and within one
 *    decade that is the fewest significant digits; a rounding interval that
 *    straddles a power of ten holds that power, found at a smaller k.
 *  - With at most 15 significant digits the text is unique: two such
 *    decimals are further apart than one double's rounding interval
 *    (10^-15 relative against 2^-52), so the "closest" tie rule never
 *    applies.
 *  - round(x * 10^k) cannot miss the m that works: x * 10^k < 2^50 is off by
 *    at most 1/8 from the exact product, and the exact product lies within
 *    10^k half-ulps of x (< 1/8) of m.
 * Anything else - more than 15 digits (0.1 + 0.2), below 10^-6 or from 10^15
 * on (exponent forms, which start at 10^-7 and 10^21) - returns 0 and
 * Duktape's Dragon4 runs as before. */
#include <float.h>
#include <stdint.h>
#include <string.h>

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "numfmt.c needs double arithmetic in double precision (FLT_EVAL_METHOD 0)"
#endif

__attribute__((visibility("hidden"))) size_t rp_duk_short_decimal(double x, int neg, char *buf);

/* 10^0 .. 10^21: all exact doubles. */
static const double pow10_tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21};

/* Writes the decimal digits of v (at least width of them, zero-padded) at
 * p; returns the count. */
static size_t put_digits(char *p, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n < width)
        tmp[n++] = '0';
    for (int i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return (size_t)n;
}

/* x (finite, > 0, its sign in neg) as ECMAScript's Number::toString
 * writes it, into buf (32 bytes); returns the length, or 0 when x is not a
 * short decimal in [10^-6, 10^15) and the caller must convert it itself. */
size_t rp_duk_short_decimal(double x, int neg, char *buf)
{
    if (!(x >= 1e-6 && x < 1e15))
        return 0;
    for (int k = 0; k < (int)(sizeof pow10_tab / sizeof pow10_tab[0]); k++) {
        double y = x * pow10_tab[k];
        if (y >= 1125899906842624.0) /* 2^50 */
            return 0;
        uint64_t m = (uint64_t)(y + 0.5);
        if (m >= 1000000000000000u) /* 16 digits and more: Dragon4's */
            return 0;
        if ((double)m / pow10_tab[k] != x)
            continue;
        char *p = buf;
        if (neg)
            *p++ = '-';
        if (k == 0)
            return (size_t)(p - buf) + put_digits(p, m, 1);
        /* m < 10^15: from k = 15 on the whole part is 0 (and 10^k may not
         * fit 64 bits) */
        uint64_t scale = k < 15 ? (uint64_t)pow10_tab[k] : 0;
        p += put_digits(p, scale ? m / scale : 0, 1);
        *p++ = '.';
        p += put_digits(p, scale ? m % scale : m, k);
        return (size_t)(p - buf);
    }
    return 0;
}
