/* parse.c - pure C parsers for request data; see js_parse.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <string.h>
#include <strings.h>

#include "js_parse.h"
#include "rp_util.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t js_url_decode_inplace(char *s, size_t n, int plus)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n) {
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h >= 0 && l >= 0) {
                s[w++] = (char)(h * 16 + l);
                i += 2;
                continue;
            }
        } else if (c == '+' && plus) {
            c = ' ';
        }
        s[w++] = c;
    }
    return w;
}

size_t js_parse_query(char *buf, size_t n, js_kv_fn fn, void *arg)
{
    size_t count = 0, i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && buf[i] != '&')
            i++;
        size_t end = i++;
        if (end == start)
            continue;
        char *k = buf + start;
        char *eq = memchr(k, '=', end - start);
        size_t klen = eq ? (size_t)(eq - k) : end - start;
        char *v = eq ? eq + 1 : k + klen;
        size_t vlen = eq ? (size_t)(buf + end - v) : 0;
        klen = js_url_decode_inplace(k, klen, 1);
        vlen = js_url_decode_inplace(v, vlen, 1);
        count++;
        if (fn(arg, k, klen, v, vlen))
            break;
    }
    return count;
}

size_t js_query_count(const char *buf, size_t n)
{
    size_t count = 0;
    const char *p = buf, *end = buf + n;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        count += stop > p;
        p = stop + 1;
    }
    return count;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The pairs come from the core's walker (rp_cookie_next: the one cookie
 * syntax); values are percent-decoded here, in place. */
size_t js_parse_cookies(char *buf, size_t n, js_kv_fn fn, void *arg)
{
    const char *cur = buf, *k, *v;
    size_t count = 0, klen, vlen;
    while (rp_cookie_next(&cur, buf + n, &k, &klen, &v, &vlen)) {
        char *val = buf + (v - buf); /* the walker points into buf, which is ours */
        vlen = js_url_decode_inplace(val, vlen, 0);
        count++;
        if (fn(arg, buf + (k - buf), klen, val, vlen))
            break;
    }
    return count;
}

long js_header_param(const char *v, size_t vlen, const char *name, char *out, size_t outsz)
{
    size_t nlen = strlen(name), i = 0;
    /* Skip the first token (the disposition or media type). */
    while (i < vlen && v[i] != ';')
        i++;
    while (i < vlen) {
        i++; /* the ';' */
        while (i < vlen && is_blank(v[i]))
            i++;
        size_t ks = i;
        while (i < vlen && v[i] != '=' && v[i] != ';' && !is_blank(v[i]))
            i++;
        size_t ke = i;
        while (i < vlen && is_blank(v[i]))
            i++;
        int match = ke - ks == nlen && strncasecmp(v + ks, name, nlen) == 0;
        if (i >= vlen || v[i] != '=') {
            while (i < vlen && v[i] != ';')
                i++;
            continue;
        }
        i++;
        while (i < vlen && is_blank(v[i]))
            i++;
        size_t w = 0;
        int toolong = 0;
        if (i < vlen && v[i] == '"') {
            for (i++; i < vlen && v[i] != '"'; i++) {
                char c = v[i];
                if (c == '\\' && i + 1 < vlen)
                    c = v[++i];
                if (match) {
                    if (w + 1 >= outsz)
                        toolong = 1;
                    else
                        out[w++] = c;
                }
            }
            if (i < vlen)
                i++; /* closing quote */
            while (i < vlen && v[i] != ';')
                i++;
        } else {
            size_t vs = i;
            while (i < vlen && v[i] != ';')
                i++;
            size_t ve = i;
            while (ve > vs && is_blank(v[ve - 1]))
                ve--;
            if (match) {
                if (ve - vs + 1 > outsz)
                    toolong = 1;
                else {
                    memcpy(out, v + vs, ve - vs);
                    w = ve - vs;
                }
            }
        }
        if (match) {
            if (toolong)
                return -1;
            out[w] = '\0';
            return (long)w;
        }
    }
    return -1;
}

long js_multipart_boundary(const char *ctype, char *out, size_t outsz)
{
    if (!ctype || !js_ctype_is(ctype, "multipart/form-data"))
        return -1;
    long n = js_header_param(ctype, strlen(ctype), "boundary", out, outsz);
    return n > 0 && n <= 70 ? n : -1;
}

/* Find "\r\n--boundary" from p; NULL if absent. */
static const char *find_delim(const char *p, const char *end, const char *b, size_t blen)
{
    while (p < end) {
        const char *d = memmem(p, (size_t)(end - p), "\r\n--", 4);
        if (!d)
            return NULL;
        if ((size_t)(end - d - 4) >= blen && memcmp(d + 4, b, blen) == 0) {
            /* A delimiter is followed by "--" or padding and CRLF; a longer
             * string that merely starts with the boundary is content. */
            const char *a = d + 4 + blen;
            if (end - a >= 2 && a[0] == '-' && a[1] == '-')
                return d;
            while (a < end && (*a == ' ' || *a == '\t'))
                a++;
            if (a + 2 <= end && a[0] == '\r' && a[1] == '\n')
                return d;
        }
        p = d + 1;
    }
    return NULL;
}

/* After a boundary line: skip transport padding up to CRLF.  NULL if the
 * line does not end. */
static const char *skip_line(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p + 2 <= end && p[0] == '\r' && p[1] == '\n')
        return p + 2;
    return NULL;
}

long js_parse_multipart(const char *body, size_t n, const char *boundary, js_part_fn fn, void *arg)
{
    size_t blen = strlen(boundary);
    const char *end = body + n, *p;
    if (blen == 0)
        return -1;
    /* The first boundary may start the body (no preceding CRLF). */
    if (n >= blen + 2 && body[0] == '-' && body[1] == '-' && memcmp(body + 2, boundary, blen) == 0)
        p = body + 2 + blen;
    else {
        const char *d = find_delim(body, end, boundary, blen);
        if (!d)
            return -1;
        p = d + 4 + blen;
    }
    long count = 0;
    for (;;) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return count; /* closing boundary */
        p = skip_line(p, end);
        if (!p)
            return -1;
        js_part part;
        const char *hend;
        if (p + 2 <= end && p[0] == '\r' && p[1] == '\n') { /* no headers */
            part.hdrs = p;
            part.hlen = 0;
            hend = p + 2;
        } else {
            const char *t = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
            if (!t)
                return -1;
            part.hdrs = p;
            part.hlen = (size_t)(t - p);
            hend = t + 4;
        }
        const char *d = find_delim(hend - 2, end, boundary, blen);
        if (!d)
            return -1;
        if (d < hend) /* "\r\n--b" overlapping the header terminator: empty */
            d = hend;
        part.data = hend;
        part.dlen = (size_t)(d - hend);
        count++;
        if (fn(arg, &part))
            return count;
        p = d + 4 + blen;
    }
}

size_t js_parse_header_block(const char *h, size_t n, js_kv_fn fn, void *arg)
{
    size_t count = 0, i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && !(h[i] == '\r' || h[i] == '\n'))
            i++;
        size_t end = i;
        while (i < n && (h[i] == '\r' || h[i] == '\n'))
            i++;
        const char *colon = memchr(h + start, ':', end - start);
        if (!colon)
            continue;
        size_t ks = start, ke = (size_t)(colon - h);
        while (ke > ks && is_blank(h[ke - 1]))
            ke--;
        size_t vs = ke + 1;
        while (vs < end && is_blank(h[vs]))
            vs++;
        size_t ve = end;
        while (ve > vs && is_blank(h[ve - 1]))
            ve--;
        if (ke == ks)
            continue;
        count++;
        if (fn(arg, h + ks, ke - ks, h + vs, ve - vs))
            break;
    }
    return count;
}

int js_ctype_is(const char *ctype, const char *type)
{
    if (!ctype)
        return 0;
    while (is_blank(*ctype))
        ctype++;
    size_t n = strlen(type);
    if (strncasecmp(ctype, type, n) != 0)
        return 0;
    const char *r = ctype + n;
    while (is_blank(*r))
        r++;
    return *r == '\0' || *r == ';';
}

int js_utf8_valid(const char *s, size_t n)
{
    if (n == 0)
        return 1;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p++;
        if (c < 0x80)
            continue;
        unsigned need, lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else
            return 0;
        if ((size_t)(end - p) < need || p[0] < lo || p[0] > hi)
            return 0;
        for (unsigned i = 1; i < need; i++)
            if (p[i] < 0x80 || p[i] > 0xBF)
                return 0;
        p += need;
    }
    return 1;
}
