/* fuzz_cookie.c - libFuzzer target: Cookie headers and query strings as
 * mod_js reads them (modules/mod_js/parse.c: js_parse_cookies,
 * js_parse_query, js_url_decode_inplace).
 *
 * The whole input is one Cookie header value and, separately, one query
 * string.  Checked: no crash or sanitizer report; every pair lies inside
 * the buffer; cookie names are non-empty with no blank at either end and
 * no ';'; query keys and values hold no '&' that was not percent-encoded;
 * decoding never lengthens and agrees with a reference decoder written
 * here; the counts returned match the callbacks made, and js_query_count
 * (the cheap count checked against MaxFormParams) matches js_parse_query;
 * js_utf8_valid agrees with the reference decoder of utf8_ref.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "js_parse.h"
#include "utf8_ref.h"

typedef struct span {
    const char *lo, *hi;
    size_t calls;
    size_t stop_at;
} span;

static void inside(const span *s, const char *p, size_t n)
{
    if (n && (p < s->lo || p > s->hi || (size_t)(s->hi - p) < n))
        abort();
}

static int on_cookie(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    span *s = arg;
    s->calls++;
    inside(s, k, kl);
    inside(s, v, vl);
    if (kl == 0 || k[0] == ' ' || k[0] == '\t' || k[kl - 1] == ' ' || k[kl - 1] == '\t')
        abort();
    if (memchr(k, ';', kl))
        abort();
    return s->stop_at && s->calls == s->stop_at;
}

static int on_query(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    span *s = arg;
    s->calls++;
    inside(s, k, kl);
    inside(s, v, vl);
    return s->stop_at && s->calls == s->stop_at;
}

static int hexv(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The reference: "%hh" with two hex digits is one byte, everything else
 * (a lone '%', "%zz", a '%' too near the end) stays as it is. */
static size_t ref_decode(const char *in, size_t n, char *out, int plus)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '%' && n - i >= 3 && hexv((unsigned char)in[i + 1]) >= 0 &&
            hexv((unsigned char)in[i + 2]) >= 0) {
            out[w++] = (char)(hexv((unsigned char)in[i + 1]) * 16 + hexv((unsigned char)in[i + 2]));
            i += 2;
        } else if (plus && in[i] == '+') {
            out[w++] = ' ';
        } else {
            out[w++] = in[i];
        }
    }
    return w;
}

static char *dup_exact(const uint8_t *d, size_t n)
{
    char *p = malloc(n ? n : 1);
    if (p && n)
        memcpy(p, d, n);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *a = dup_exact(data, size), *b = dup_exact(data, size), *ref = malloc(size ? size : 1);
    if (!a || !b || !ref)
        goto out;

    for (int plus = 0; plus < 2; plus++) {
        memcpy(a, data, size);
        size_t n = js_url_decode_inplace(a, size, plus);
        size_t rn = ref_decode((const char *)data, size, ref, plus);
        if (n > size || n != rn || memcmp(a, ref, n) != 0)
            abort();
    }

    memcpy(a, data, size);
    span c = {a, a + size, 0, 0};
    size_t nc = js_parse_cookies(a, size, on_cookie, &c);
    if (nc != c.calls)
        abort();
    if (nc > 1) { /* stopping early is honoured */
        memcpy(a, data, size);
        span s = {a, a + size, 0, 1};
        if (js_parse_cookies(a, size, on_cookie, &s) != 1 || s.calls != 1)
            abort();
    }

    if (js_utf8_valid((const char *)data, size) != ref_valid(data, size))
        abort();

    memcpy(b, data, size);
    size_t counted = js_query_count(b, size);
    if (memcmp(b, data, size) != 0)
        abort(); /* counting modifies nothing */
    span q = {b, b + size, 0, 0};
    size_t nq = js_parse_query(b, size, on_query, &q);
    if (nq != q.calls || nq != counted)
        abort();
    size_t amps = 0;
    for (size_t i = 0; i < size; i++)
        amps += data[i] == '&';
    if (nq > amps + 1)
        abort();
out:
    free(a);
    free(b);
    free(ref);
    return 0;
}
