/* file.c - file responses: rp_file objects, validators (ETag,
 * Last-Modified, If-None-Match, If-Modified-Since, If-Range), single byte
 * ranges, and rp_resp_send_file, shared by every handler that answers with
 * a file (RFC 9110 sections 8.8, 13 and 14). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "file.h"
#include "runtime.h"

/* ---- rp_file ------------------------------------------------------------ */

rp_file *rp_file_new(int fd, const struct stat *st, const char *path)
{
    rp_file *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    if (path && !(f->path = strdup(path))) {
        free(f);
        return NULL;
    }
    f->refs = 1;
    f->fd = fd;
    f->st = *st;
    snprintf(f->etag, sizeof f->etag, "\"%llx-%llx\"", (unsigned long long)st->st_mtime,
             (unsigned long long)st->st_size);
    rp_http_date(st->st_mtime, f->lastmod);
    return f;
}

void rp_file_ref(rp_file *f)
{
    f->refs++;
}

void rp_file_unref(rp_file *f)
{
    if (!f || --f->refs > 0)
        return;
    if (f->fd >= 0)
        close(f->fd);
    free(f->data);
    free(f->path);
    free(f);
}

static void unref_cb(void *arg)
{
    rp_file_unref(arg);
}

void rp_file_hold(rp_req *r, rp_file *f)
{
    rp_pool_cleanup_add(r->pool, unref_cb, f);
}

RP_API rp_file *rp_file_from_fd(rp_req *r, int fd, const char *path, int *status)
{
    struct stat st;
    rp_file *f = NULL;
    if (fstat(fd, &st) != 0 || !(f = rp_file_new(fd, &st, path))) {
        close(fd);
        *status = 500;
        return NULL;
    }
    rp_file_hold(r, f);
    return f;
}

RP_API const struct stat *rp_file_stat(const rp_file *f)
{
    return &f->st;
}

RP_API const char *rp_file_etag(const rp_file *f)
{
    return f->etag;
}

RP_API const char *rp_file_path(const rp_file *f)
{
    return f->path;
}

RP_API void rp_brigade_add_file_ref(rp_brigade *bb, rp_file *f, int64_t off, int64_t len)
{
    rp_file_ref(f);
    if (f->data) /* a small cached file: its bytes by reference, no read */
        rp_brigade_add_ref(bb, f->data + off, (size_t)len, unref_cb, f);
    else
        rp_brigade_add_rpfile(bb, f, off, len);
}

RP_API const rp_file *rp_resp_file(const rp_req *r)
{
    return r->file;
}

/* ---- validators ----------------------------------------------------------- */

static const char *skip_ows(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Next member of an entity-tag list: *tag and *len are the opaque tag with
 * its quotes (or "*"), W/ stripped.  Returns the position after it, or NULL
 * at the end.  A malformed member runs to the next comma and never matches
 * a tag we generate (ours are always quoted). */
static const char *next_etag(const char *s, const char **tag, size_t *len)
{
    while (*s == ' ' || *s == '\t' || *s == ',')
        s++;
    if (!*s)
        return NULL;
    if (s[0] == 'W' && s[1] == '/')
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

RP_API int rp_etag_listed(const char *list, const char *etag)
{
    if (!list || !etag)
        return 0;
    if (etag[0] == 'W' && etag[1] == '/')
        etag += 2;
    size_t elen = strlen(etag), len;
    const char *tag;
    for (const char *s = list; (s = next_etag(s, &tag, &len)) != NULL;)
        if ((len == 1 && tag[0] == '*') || (len == elen && memcmp(tag, etag, len) == 0))
            return 1;
    return 0;
}

RP_API int rp_req_not_modified(const rp_req *r, const char *etag, time_t mtime)
{
    /* If-None-Match takes precedence: when present, If-Modified-Since is
     * ignored (RFC 9110 13.1.3). */
    const char *inm = rp_req_header(r, "If-None-Match");
    if (inm)
        return rp_etag_listed(inm, etag);
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

/* As rp_range_parse; *open says the range was "N-" (to the end). */
static int range_parse(const char *value, int64_t size, int64_t *off, int64_t *len, bool *open)
{
    *open = false;
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
    *open = !(*p >= '0' && *p <= '9');
    if (!*open) {
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

RP_API int rp_range_parse(const char *value, int64_t size, int64_t *off, int64_t *len)
{
    bool open;
    return range_parse(value, size, off, len, &open);
}

/* 200 (whole), 206 with the range, or 416. */
static int choose_range(const rp_req *r, const rp_file *f, int64_t *off, int64_t *len)
{
    const char *range = rp_req_header(r, "Range");
    if (!range)
        return 200;
    const char *ifr = rp_req_header(r, "If-Range");
    if (ifr && !if_range_holds(ifr, f->etag, f->st.st_mtime))
        return 200;
    bool open;
    int rc = range_parse(range, (int64_t)f->st.st_size, off, len, &open);
    /* DefaultRangeMBytes: a player seeking with "bytes=N-" gets a part,
     * not the rest of a film it may never play (it asks again). */
    int64_t cap = (int64_t)r->server->core->default_range;
    if (rc == 206 && open && cap > 0 && !r->range_uncapped && *len > cap)
        *len = cap;
    return rc;
}

/* ---- the response ------------------------------------------------------------ */

/* The request holds f, so its strings outlive the response head. */
static void set_validators(rp_req *r, const rp_file *f)
{
    rp_resp_header_set_const(r, "ETag", f->etag);
    rp_resp_header_set_const(r, "Last-Modified", f->lastmod);
}

static void set_type(rp_req *r, rp_file *f)
{
    if (rp_resp_header_get(r, "Content-Type"))
        return;
    /* A cached file is looked up once per configuration (the cache is). */
    if (f->mime_of != r->server) {
        const char *type = f->path ? rp_mime_type(r->server, f->path) : NULL;
        f->mime = type ? type : "application/octet-stream";
        f->mime_of = r->server;
    }
    rp_resp_header_set_const(r, "Content-Type", f->mime);
}

static int send_body(rp_req *r, rp_file *f, int64_t off, int64_t len)
{
    rp_resp_set_length(r, len);
    r->file = f;
    if (r->head || len == 0)
        return RP_OK;
    rp_resp_send_rpfile(r, f, off, len); /* -1: the client is gone, nothing to answer */
    return RP_OK;
}

RP_API int rp_resp_send_file(rp_req *r, rp_file *f)
{
    int64_t size = (int64_t)f->st.st_size, off = 0, len = size;
    set_validators(r, f);
    /* A handler that chose another status (a script's 404 page from a
     * file) gets the file as it is: conditionals and ranges are for 200. */
    if (r->status != 200) {
        set_type(r, f);
        return send_body(r, f, 0, size);
    }
    if (rp_req_not_modified(r, f->etag, f->st.st_mtime)) {
        /* RFC 9110 15.4.5: no representation metadata beyond validators. */
        rp_resp_header_unset(r, "Content-Type");
        r->status = 304;
        r->file = f;
        return RP_OK;
    }
    char cr[96];
    int rc = r->no_ranges ? 200 : choose_range(r, f, &off, &len);
    if (rc == 416) {
        snprintf(cr, sizeof cr, "bytes */%lld", (long long)size);
        rp_resp_header_set(r, "Content-Range", cr);
        return 416;
    }
    set_type(r, f);
    if (!r->no_ranges)
        rp_resp_header_set_const(r, "Accept-Ranges", "bytes");
    if (rc == 206) {
        snprintf(cr, sizeof cr, "bytes %lld-%lld/%lld", (long long)off, (long long)(off + len - 1),
                 (long long)size);
        rp_resp_header_set(r, "Content-Range", cr);
    }
    r->status = rc;
    return send_body(r, f, off, len);
}

RP_API void rp_resp_ranges(rp_req *r, rp_ranges mode)
{
    r->no_ranges = mode == RP_RANGES_OFF;
    r->range_uncapped = mode == RP_RANGES_UNCAPPED;
}
