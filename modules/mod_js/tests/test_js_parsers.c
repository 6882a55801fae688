/* test_js_parsers.c - the pure parsers of mod_js (parse.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_parse.h"

static int failures;
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

typedef struct kvs {
    char out[1024];
    size_t n;
} kvs;

/* Collect pairs as "k=v|" (NUL shown as \0). */
static int collect(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    kvs *c = arg;
    for (size_t i = 0; i < kl; i++)
        c->out[c->n++] = k[i] ? k[i] : '0';
    c->out[c->n++] = '=';
    for (size_t i = 0; i < vl; i++)
        c->out[c->n++] = v[i] ? v[i] : '0';
    c->out[c->n++] = '|';
    c->out[c->n] = '\0';
    return 0;
}

static const char *query(const char *s)
{
    static kvs c;
    static char buf[512];
    memset(&c, 0, sizeof c);
    snprintf(buf, sizeof buf, "%s", s);
    js_parse_query(buf, strlen(buf), collect, &c);
    return c.out;
}

static const char *cookies(const char *s)
{
    static kvs c;
    static char buf[512];
    memset(&c, 0, sizeof c);
    snprintf(buf, sizeof buf, "%s", s);
    js_parse_cookies(buf, strlen(buf), collect, &c);
    return c.out;
}

static void test_decode(void)
{
    char b[64];
    strcpy(b, "a%20b+c%2");
    size_t n = js_url_decode_inplace(b, strlen(b), 1);
    CHECK(n == 7 && memcmp(b, "a b c%2", 7) == 0);
    strcpy(b, "%41%zz+");
    n = js_url_decode_inplace(b, strlen(b), 0);
    CHECK(n == 5 && memcmp(b, "A%zz+", 5) == 0);
}

/* js_query_count agrees with what js_parse_query reports. */
static size_t parsed_count(const char *s)
{
    static kvs c;
    static char buf[512];
    memset(&c, 0, sizeof c);
    snprintf(buf, sizeof buf, "%s", s);
    return js_parse_query(buf, strlen(buf), collect, &c);
}

static void test_query_count(void)
{
    static const char *const cases[] = {"", "a", "&", "&&", "a=1&b=2&a=3", "&&flag&x=",
                                        "a&", "&a", "a&&b", "=&=", "%26&%26"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(js_query_count(cases[i], strlen(cases[i])) == parsed_count(cases[i]));
    CHECK(js_query_count("a=1&b=2&c", 9) == 3);
    CHECK(js_query_count("a=1&b=2&c", 3) == 1); /* only the first n bytes */
}

static void test_query(void)
{
    CHECK(strcmp(query("q=search+terms"), "q=search terms|") == 0);
    CHECK(strcmp(query("a=1&b=2&a=3"), "a=1|b=2|a=3|") == 0);
    CHECK(strcmp(query("&&flag&x="), "flag=|x=|") == 0);
    CHECK(strcmp(query("k%3D=v%26w&%00=z"), "k==v&w|0=z|") == 0);
    CHECK(strcmp(query(""), "") == 0);
}

static void test_cookies(void)
{
    CHECK(strcmp(cookies("mycookie=cookietext"), "mycookie=cookietext|") == 0);
    CHECK(strcmp(cookies(" a=1 ;b = \"two\";; c ; d=x%20y+z"), "a=1|b=two|c=|d=x y+z|") == 0);
}

static void test_params(void)
{
    char out[64];
    const char *cd = "form-data; name=\"file\"; filename=\"a \\\"b\\\".txt\"";
    CHECK(js_header_param(cd, strlen(cd), "name", out, sizeof out) == 4 &&
          strcmp(out, "file") == 0);
    CHECK(js_header_param(cd, strlen(cd), "filename", out, sizeof out) > 0 &&
          strcmp(out, "a \"b\".txt") == 0);
    CHECK(js_header_param(cd, strlen(cd), "size", out, sizeof out) == -1);
    CHECK(js_header_param(cd, strlen(cd), "filename", out, 4) == -1);
    CHECK(js_multipart_boundary("multipart/form-data; boundary=----WebKitX12", out, sizeof out) ==
              13 &&
          strcmp(out, "----WebKitX12") == 0);
    CHECK(js_multipart_boundary("Multipart/Form-Data ; charset=x; boundary=\"q b\"", out,
                                sizeof out) == 3 &&
          strcmp(out, "q b") == 0);
    CHECK(js_multipart_boundary("text/plain; boundary=x", out, sizeof out) == -1);
    CHECK(js_ctype_is("application/json; charset=utf-8", "application/json"));
    CHECK(!js_ctype_is("application/jsonx", "application/json"));
}

typedef struct parts {
    int n;
    char hdr[4][128];
    char data[4][300];
    size_t dlen[4];
} parts;

static int on_part(void *arg, const js_part *p)
{
    parts *ps = arg;
    if (ps->n >= 4)
        return 1;
    memcpy(ps->hdr[ps->n], p->hdrs, p->hlen < 127 ? p->hlen : 127);
    memcpy(ps->data[ps->n], p->data, p->dlen < 300 ? p->dlen : 300);
    ps->dlen[ps->n] = p->dlen;
    ps->n++;
    return 0;
}

static void test_multipart(void)
{
    const char *b = "------WebKitFormBoundaryB4UZ3AZ5kFBUZpR6\r\n"
                    "Content-Disposition: form-data; name=\"file\"; filename=\"helloWorld.txt\"\r\n"
                    "Content-Type: text/plain\r\n\r\nHello World!\r\n"
                    "------WebKitFormBoundaryB4UZ3AZ5kFBUZpR6\r\n"
                    "Content-Disposition: form-data; name=\"Upload\"\r\n\r\nUpload\r\n"
                    "------WebKitFormBoundaryB4UZ3AZ5kFBUZpR6--\r\n";
    parts ps;
    memset(&ps, 0, sizeof ps);
    long n =
        js_parse_multipart(b, strlen(b), "----WebKitFormBoundaryB4UZ3AZ5kFBUZpR6", on_part, &ps);
    CHECK(n == 2);
    CHECK(ps.dlen[0] == 12 && memcmp(ps.data[0], "Hello World!", 12) == 0);
    CHECK(strstr(ps.hdr[0], "filename=\"helloWorld.txt\"") != NULL);
    CHECK(ps.dlen[1] == 6 && memcmp(ps.data[1], "Upload", 6) == 0);

    /* Binary content with every byte value, CRLFs and fake boundaries. */
    char body[1024];
    size_t len = 0;
    const char *bd = "XyZ";
    len += (size_t)sprintf(body + len, "preamble\r\n--XyZ\r\nContent-Disposition: form-data; "
                                       "name=\"bin\"; filename=\"b.bin\"\r\n\r\n");
    for (int i = 0; i < 256; i++)
        body[len++] = (char)i;
    memcpy(body + len, "\r\n--Xy\r\n--XyZa", 14);
    len += 14;
    len += (size_t)sprintf(body + len, "\r\n--XyZ\r\n\r\n\r\n--XyZ--");
    memset(&ps, 0, sizeof ps);
    n = js_parse_multipart(body, len, bd, on_part, &ps);
    CHECK(n == 2);
    CHECK(ps.dlen[0] == 256 + 14);
    int ok = 1;
    for (int i = 0; i < 256; i++)
        ok &= (unsigned char)ps.data[0][i] == i;
    CHECK(ok);
    CHECK(ps.dlen[1] == 0);

    /* Malformed: no closing boundary; no boundary at all. */
    const char *bad = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc";
    memset(&ps, 0, sizeof ps);
    CHECK(js_parse_multipart(bad, strlen(bad), bd, on_part, &ps) == -1);
    CHECK(js_parse_multipart("hello", 5, bd, on_part, &ps) == -1);
    CHECK(js_parse_multipart("", 0, bd, on_part, &ps) == -1);
}

static void test_header_block(void)
{
    static kvs c;
    const char *h =
        "Content-Disposition: form-data; name=\"a\"\r\nContent-Type:  text/plain  \r\nbogus";
    memset(&c, 0, sizeof c);
    CHECK(js_parse_header_block(h, strlen(h), collect, &c) == 2);
    CHECK(strcmp(c.out, "Content-Disposition=form-data; name=\"a\"|Content-Type=text/plain|") == 0);
}

int main(void)
{
    test_decode();
    test_query();
    test_query_count();
    test_cookies();
    test_params();
    test_multipart();
    test_header_block();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_js_parsers: all passed\n");
    return 0;
}
