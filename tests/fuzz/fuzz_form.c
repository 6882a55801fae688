/* fuzz_form.c - libFuzzer target: request bodies as mod_js splits them
 * (modules/mod_js/parse.c): multipart/form-data and urlencoded forms.
 *
 * Input: a Content-Type value, a newline, then the body.  As req.c does, the
 * boundary is taken from the Content-Type (js_multipart_boundary), the body
 * split with js_parse_multipart, each part's header block read with
 * js_parse_header_block and its Content-Disposition's name and filename
 * with js_header_param into a 1 KiB buffer; the body is also parsed as an
 * urlencoded form (js_parse_query).  Checked: no crash or sanitizer report;
 * every part, header and pair lies inside its input; a parameter value
 * fits its buffer and is NUL-terminated at the length returned; the counts
 * returned match the callbacks made. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "js_parse.h"

typedef struct span {
    const char *lo, *hi; /* [lo, hi) holds every piece */
    long calls;
} span;

static void inside(const span *s, const char *p, size_t n)
{
    if (n && (p < s->lo || p > s->hi || (size_t)(s->hi - p) < n))
        abort();
}

static void check_param(const char *v, size_t vl, const char *name)
{
    char out[1024];
    memset(out, 'x', sizeof out);
    long r = js_header_param(v, vl, name, out, sizeof out);
    if (r < -1 || r >= (long)sizeof out)
        abort();
    if (r >= 0 && (out[r] != '\0' || (size_t)r > vl))
        abort();
    /* a tiny buffer: the value either fits or is refused */
    char small[4];
    long s = js_header_param(v, vl, name, small, sizeof small);
    if (s >= (long)sizeof small || (s >= 0 && small[s] != '\0'))
        abort();
    if (s >= 0 && (r != s || memcmp(out, small, (size_t)s) != 0))
        abort();
}

static int on_header(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    span *s = arg;
    s->calls++;
    if (kl == 0)
        abort();
    inside(s, k, kl);
    inside(s, v, vl);
    if (memchr(k, '\n', kl) || memchr(v, '\n', vl) || memchr(k, '\r', kl) || memchr(v, '\r', vl))
        abort();
    check_param(v, vl, "name");
    check_param(v, vl, "filename");
    return 0;
}

typedef struct mp {
    span body;
    long parts;
    int stop_at;
} mp;

static int on_part(void *arg, const js_part *part)
{
    mp *m = arg;
    inside(&m->body, part->hdrs, part->hlen);
    inside(&m->body, part->data, part->dlen);
    if (part->hlen && part->hdrs + part->hlen > part->data)
        abort(); /* headers come before the content */
    span h = {part->hdrs, part->hdrs + part->hlen, 0};
    size_t n = js_parse_header_block(part->hdrs, part->hlen, on_header, &h);
    if ((long)n != h.calls)
        abort();
    m->parts++;
    return m->stop_at && m->parts == m->stop_at;
}

static int on_pair(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    span *s = arg;
    s->calls++;
    inside(s, k, kl);
    inside(s, v, vl);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t clen = nl ? (size_t)(nl - data) : size;
    char *ctype = malloc(clen + 1);
    if (!ctype)
        return 0;
    memcpy(ctype, data, clen);
    ctype[clen] = '\0';
    const uint8_t *bp = nl ? nl + 1 : data + size;
    size_t blen = (size_t)(data + size - bp);
    /* the body in its own allocation of exactly blen bytes */
    char *body = malloc(blen ? blen : 1);
    if (!body) {
        free(ctype);
        return 0;
    }
    memcpy(body, bp, blen);

    (void)js_ctype_is(ctype, "multipart/form-data");
    (void)js_ctype_is(ctype, "application/x-www-form-urlencoded");
    char boundary[128];
    long bl = js_multipart_boundary(ctype, boundary, sizeof boundary);
    if (bl > 70 || (bl >= 0 && (bl == 0 || boundary[bl] != '\0' || strlen(boundary) != (size_t)bl)))
        abort();
    if (bl > 0) {
        mp m = {{body, body + blen, 0}, 0, 0};
        long n = js_parse_multipart(body, blen, boundary, on_part, &m);
        if (n < -1 || (n >= 0 && n != m.parts))
            abort();
        if (n > 1) { /* stopping early is honoured */
            mp s = {{body, body + blen, 0}, 0, 1};
            if (js_parse_multipart(body, blen, boundary, on_part, &s) != 1 || s.parts != 1)
                abort();
        }
    }

    span q = {body, body + blen, 0};
    size_t counted = js_query_count(body, blen); /* the MaxFormParams check */
    size_t pairs = js_parse_query(body, blen, on_pair, &q);
    if ((long)pairs != q.calls || pairs != counted)
        abort();
    free(body);
    free(ctype);
    return 0;
}
