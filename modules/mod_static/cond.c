/* cond.c - validators (ETag, Last-Modified), conditional requests and
 * single byte ranges (RFC 9110 sections 8.8, 13 and 14). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "static_int.h"

void st_etag(char *buf, const struct stat *st)
{
    snprintf(buf, ST_ETAG_MAX, "\"%llx-%llx\"", (unsigned long long)st->st_mtime,
             (unsigned long long)st->st_size);
}

static const char *skip_ows(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Next member of an entity-tag list: *tag and *len are the opaque tag with its
 * quotes (or "*"), *weak says it had W/.  Returns the position after it, or
 * NULL at the end.  Malformed members run to the next comma and never match
 * anything we generate (ours are always quoted). */
static const char *next_etag(const char *s, const char **tag, size_t *len, int *weak)
{
    while (*s == ' ' || *s == '\t' || *s == ',')
        s++;
    if (!*s)
        return NULL;
    *weak = (s[0] == 'W' && s[1] == '/');
    if (*weak)
        s += 2;
    const char *end;
    if (*s == '"') {
        const char *close = strchr(s + 1, '"');
        end = close ? close + 1 : s + strlen(s);
    } else {
        end = s + strcspn(s, ",");
    }
    *tag = s;
    *len = (size_t)(end - s);
    return end;
}

/* If-None-Match: weak comparison (W/ ignored on both sides), "*" matches
 * any existing file. */
static int etag_list_matches(const char *list, const char *etag)
{
    const char *tag;
    size_t len, elen = strlen(etag);
    int weak;
    for (const char *s = list; (s = next_etag(s, &tag, &len, &weak)) != NULL;) {
        if ((len == 1 && tag[0] == '*' && !weak) || (len == elen && memcmp(tag, etag, len) == 0))
            return 1;
    }
    return 0;
}

int st_not_modified(rp_req *r, const char *etag, time_t mtime)
{
    /* If-None-Match takes precedence: when present, If-Modified-Since is
     * ignored (RFC 9110 13.1.3). */
    const char *inm = rp_req_header(r, "If-None-Match");
    if (inm)
        return etag_list_matches(inm, etag);
    const char *ims = rp_req_header(r, "If-Modified-Since");
    time_t since;
    if (ims && rp_http_date_parse(ims, &since) == 0)
        return mtime <= since;
    return 0;
}

/* If-Range: the range applies only if the validator still matches.  An
 * entity tag needs a strong match (so W/ never matches); a date must equal
 * Last-Modified exactly. */
static int if_range_holds(const char *v, const char *etag, time_t mtime)
{
    v = skip_ows(v);
    if (v[0] == 'W' && v[1] == '/')
        return 0;
    if (v[0] == '"') {
        size_t elen = strlen(etag);
        return strncmp(v, etag, elen) == 0 && *skip_ows(v + elen) == '\0';
    }
    time_t t;
    return rp_http_date_parse(v, &t) == 0 && t == mtime;
}

/* Decimal digits at *s into *out, saturating at INT64_MAX; -1 if none. */
static int parse_pos(const char **s, int64_t *out)
{
    const char *p = *s;
    int64_t v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++)
        v = (v > (INT64_MAX - 9) / 10) ? INT64_MAX : v * 10 + (*p - '0');
    *s = p;
    *out = v;
    return 0;
}

/* "-n": the last n bytes. */
static int suffix_range(const char *p, int64_t size, int64_t *off, int64_t *len)
{
    int64_t n;
    if (parse_pos(&p, &n) != 0 || *skip_ows(p) != '\0')
        return 200;
    if (n == 0 || size == 0)
        return 416;
    *len = n < size ? n : size;
    *off = size - *len;
    return 206;
}

int st_parse_range(const char *value, int64_t size, int64_t *off, int64_t *len)
{
    const char *p = skip_ows(value);
    if (strncasecmp(p, "bytes", 5) != 0)
        return 200; /* another unit: ignore */
    p = skip_ows(p + 5);
    if (*p++ != '=')
        return 200;
    /* Several ranges would need multipart/byteranges; sending the whole
     * file instead is allowed and simpler. */
    if (strchr(p, ','))
        return 200;
    p = skip_ows(p);
    if (*p == '-')
        return suffix_range(p + 1, size, off, len);
    int64_t first, last = INT64_MAX;
    if (parse_pos(&p, &first) != 0 || *p++ != '-')
        return 200;
    if (*p >= '0' && *p <= '9') {
        parse_pos(&p, &last);
        if (last < first)
            return 200; /* invalid range-spec: ignore the header */
    }
    if (*skip_ows(p) != '\0')
        return 200;
    if (first >= size)
        return 416;
    if (last > size - 1)
        last = size - 1;
    *off = first;
    *len = last - first + 1;
    return 206;
}

int st_range(rp_req *r, const char *etag, time_t mtime, int64_t size, int64_t *off, int64_t *len)
{
    const char *range = rp_req_header(r, "Range");
    if (!range)
        return 200;
    const char *ifr = rp_req_header(r, "If-Range");
    if (ifr && !if_range_holds(ifr, etag, mtime))
        return 200;
    return st_parse_range(range, size, off, len);
}
