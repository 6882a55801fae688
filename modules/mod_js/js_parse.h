/* js_parse.h - pure C parsers for request data (mod_js, HTTP half).
 *
 * No Duktape and no server types: query strings, urlencoded bodies, cookie
 * headers and multipart/form-data bodies, each delivered through a callback.
 * Unit-tested by modules/mod_js/tests/test_js_parsers.c.
 */
#ifndef JS_PARSE_H
#define JS_PARSE_H

#include <stddef.h>

/* One key/value pair; neither is NUL-terminated (they may contain NUL
 * after decoding). Return 0 to go on, non-zero to stop. */
typedef int (*js_kv_fn)(void *arg, const char *key, size_t klen, const char *val, size_t vlen);

/* Percent-decode s[0..n) in place ('+' -> ' ' when plus); malformed escapes
 * are kept literally.  Returns the new length. */
size_t js_url_decode_inplace(char *s, size_t n, int plus);

/* "a=1&b=x+y&a=2&flag" -> (a,1) (b,"x y") (a,2) (flag,""); empty pieces
 * are skipped.  buf is decoded in place.  Returns the number of pairs. */
size_t js_parse_query(char *buf, size_t n, js_kv_fn fn, void *arg);

/* The number of pairs js_parse_query would report for buf[0..n) (the
 * non-empty '&'-separated pieces), without decoding or modifying anything:
 * a cheap bound check before any pair is built. */
size_t js_query_count(const char *buf, size_t n);

/* "a=1; b=\"two\"; c" -> (a,1) (b,two) (c,""); names and values trimmed,
 * one pair of surrounding double quotes removed, values percent-decoded
 * ('+' kept).  buf is modified in place.  Returns the number of pairs. */
size_t js_parse_cookies(char *buf, size_t n, js_kv_fn fn, void *arg);

/* The value of parameter `name` in a header value such as
 * 'form-data; name="file"; filename="a b.txt"' (quotes removed, \" and \\
 * unescaped) copied into out (NUL-terminated).  Returns its length, or -1
 * if absent or longer than outsz - 1. */
long js_header_param(const char *v, size_t vlen, const char *name, char *out, size_t outsz);

/* The boundary of a multipart Content-Type, into out; -1 if none. */
long js_multipart_boundary(const char *ctype, char *out, size_t outsz);

/* One part: its header block (lines separated by CRLF, without the blank
 * line) and its content. */
typedef struct js_part {
    const char *hdrs;
    size_t hlen;
    const char *data;
    size_t dlen;
} js_part;
typedef int (*js_part_fn)(void *arg, const js_part *part);

/* Split a multipart body.  Binary-safe.  Returns the number of parts, or -1
 * if the body is malformed (no opening boundary, a part without its header
 * terminator, or no closing boundary). */
long js_parse_multipart(const char *body, size_t n, const char *boundary, js_part_fn fn, void *arg);

/* Iterate the "Name: value" lines of a header block (values trimmed). */
size_t js_parse_header_block(const char *h, size_t n, js_kv_fn fn, void *arg);

/* 1 if s[0..n) is well-formed UTF-8 (RFC 3629: shortest forms, no
 * surrogates, nothing above U+10FFFF), else 0.  JSON text must be UTF-8;
 * Duktape reads other bytes leniently (0xC0 0x5F becomes U+001F, which
 * JSON.stringify then writes unescaped), so bodies are checked first. */
int js_utf8_valid(const char *s, size_t n);

/* Case-insensitive: does the media type of ctype equal type (ignoring
 * parameters and blanks)? */
int js_ctype_is(const char *ctype, const char *type);

#endif
