/* accesslog.c - the access log line (the core's LOG hook), LogFormat, and
 * request ids.
 *
 * A LogFormat string is compiled once, at configuration time, into a list
 * of items (literal text or one % directive); writing a line walks that
 * list into a stack buffer and hands it to log.c in one write(2).  A format
 * that starts with '{' is JSON: every value is escaped as a JSON string
 * body, so one line is one valid JSON object whatever a client sends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include "core.h"
#include "runtime.h"

typedef enum {
    LF_TEXT,
    LF_PERCENT,
    LF_REMOTE_IP,  /* %h %a */
    LF_LOCAL_IP,   /* %A */
    LF_LOCAL_PORT, /* %p */
    LF_DASH,       /* %l */
    LF_USER,       /* %u */
    LF_TIME,       /* %t, %{strftime}t */
    LF_REQLINE,    /* %r */
    LF_METHOD,     /* %m */
    LF_PATH,       /* %U */
    LF_QUERY,      /* %q: "?..." or "" */
    LF_PROTO,      /* %H */
    LF_STATUS,     /* %s %>s */
    LF_BYTES_CLF,  /* %b: "-" for none */
    LF_BYTES,      /* %B */
    LF_USEC,       /* %D */
    LF_SEC,        /* %T, %{ms}T, %{us}T */
    LF_REQ_HDR,    /* %{Name}i */
    LF_RESP_HDR,   /* %{Name}o */
    LF_REQ_ID,     /* %L */
} lf_kind;

typedef struct lf_item {
    lf_kind kind;
    const char *arg; /* text, header name, strftime format, T unit */
    size_t len;      /* of text */
} lf_item;

struct rp_logfmt {
    lf_item *items;
    size_t n;
    bool json;
};

const char *const rp_logfmt_builtin[][2] = {
    {"common", "%h %l %u %t \"%r\" %>s %b"},
    {"combined", "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\""},
    {"json", "{\"time\":\"%{%Y-%m-%dT%H:%M:%S%z}t\",\"remote\":\"%a\",\"user\":\"%u\","
             "\"method\":\"%m\",\"uri\":\"%U%q\",\"protocol\":\"%H\",\"status\":%>s,"
             "\"bytes\":%B,\"duration_us\":%D,\"referer\":\"%{Referer}i\","
             "\"user_agent\":\"%{User-Agent}i\",\"request_id\":\"%L\"}"},
    {NULL, NULL}};

/* ---- compiling ------------------------------------------------------------ */

static const struct {
    lf_kind kind;
    char c;
    bool takes_arg; /* %{...}c: arg allowed (required when kind needs it) */
} lf_table[] = {
    {LF_REMOTE_IP, 'h', false},  {LF_REMOTE_IP, 'a', false}, {LF_LOCAL_IP, 'A', false},
    {LF_LOCAL_PORT, 'p', false}, {LF_DASH, 'l', false},      {LF_USER, 'u', false},
    {LF_TIME, 't', true},        {LF_REQLINE, 'r', false},   {LF_METHOD, 'm', false},
    {LF_PATH, 'U', false},       {LF_QUERY, 'q', false},     {LF_PROTO, 'H', false},
    {LF_STATUS, 's', false},     {LF_BYTES_CLF, 'b', false}, {LF_BYTES, 'B', false},
    {LF_USEC, 'D', false},       {LF_SEC, 'T', true},        {LF_REQ_HDR, 'i', true},
    {LF_RESP_HDR, 'o', true},    {LF_REQ_ID, 'L', false},
};

static void push(rp_pool *p, rp_logfmt *f, size_t *cap, lf_item it)
{
    if (f->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        lf_item *v = rp_palloc(p, ncap * sizeof *v);
        if (f->n)
            memcpy(v, f->items, f->n * sizeof *v);
        f->items = v;
        *cap = ncap;
    }
    f->items[f->n++] = it;
}

/* One directive after '%' at *sp; advances *sp.  NULL or an error. */
static const char *compile_one(rp_pool *p, const char **sp, lf_item *it)
{
    const char *s = *sp, *arg = NULL;
    if (*s == '{') {
        const char *close = strchr(s + 1, '}');
        if (!close)
            return "a '%{' without its '}'";
        arg = rp_pstrndup(p, s + 1, (size_t)(close - s - 1));
        s = close + 1;
    }
    if (*s == '>' && s[1] == 's')
        s++; /* %>s: the final status, the only one we have */
    if (*s == '%' && !arg) {
        *it = (lf_item){LF_PERCENT, NULL, 0};
        *sp = s + 1;
        return NULL;
    }
    for (size_t i = 0; i < sizeof lf_table / sizeof lf_table[0]; i++) {
        if (lf_table[i].c != *s)
            continue;
        if (arg && !lf_table[i].takes_arg)
            return rp_psprintf(p, "'%%{%s}%c' takes no {argument}", arg, *s);
        if (!arg && (lf_table[i].kind == LF_REQ_HDR || lf_table[i].kind == LF_RESP_HDR))
            return rp_psprintf(p, "'%%%c' needs a header name: %%{Name}%c", *s, *s);
        if (lf_table[i].kind == LF_SEC && arg && strcmp(arg, "ms") != 0 && strcmp(arg, "us") != 0 &&
            strcmp(arg, "s") != 0)
            return rp_psprintf(p, "'%%{%s}T': the unit is s, ms or us", arg);
        *it = (lf_item){lf_table[i].kind, arg, 0};
        *sp = s + 1;
        return NULL;
    }
    if (!*s)
        return "the format ends with a lone '%'";
    return rp_psprintf(p,
                       "unknown directive '%%%c' (known: %%h %%a %%A %%p %%l %%u %%t %%r %%m "
                       "%%U %%q %%H %%s %%>s %%b %%B %%D %%T %%{Name}i %%{Name}o %%L %%%%)",
                       *s);
}

const char *rp_logfmt_compile(rp_pool *p, const char *src, const rp_logfmt **out)
{
    rp_logfmt *f = rp_pcalloc(p, sizeof *f);
    size_t cap = 0;
    f->json = src[0] == '{';
    for (const char *s = src; *s;) {
        const char *pct = strchr(s, '%');
        size_t n = pct ? (size_t)(pct - s) : strlen(s);
        if (n)
            push(p, f, &cap, (lf_item){LF_TEXT, s, n});
        if (!pct)
            break;
        s = pct + 1;
        lf_item it;
        const char *e = compile_one(p, &s, &it);
        if (e)
            return e;
        push(p, f, &cap, it);
    }
    *out = f;
    return NULL;
}

/* ---- request ids ---------------------------------------------------------- */

static bool id_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return n >= 1 && n <= 128;
}

/* A random 64-bit prefix per thread and a counter: unique without a lock.
 * Every JavaScript request asks for one, so no printf, and the prefix's hex
 * digits are written once per thread. */
static const char *new_id(rp_pool *p)
{
    static const char hex[] = "0123456789abcdef";
    static __thread char prefix_hex[16];
    static __thread uint64_t count;
    /* one access each: every read of a __thread variable in a shared
     * library is a __tls_get_addr call */
    char *pre = prefix_hex;
    if (!pre[0]) {
        uint64_t prefix;
        if (getrandom(&prefix, sizeof prefix, GRND_NONBLOCK) != (ssize_t)sizeof prefix) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            prefix = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ (uintptr_t)&count;
        }
        for (int i = 0; i < 16; i++)
            pre[i] = hex[(prefix >> (60 - 4 * i)) & 15];
    }
    char *id = rp_palloc(p, 25);
    uint64_t c = ++count & 0xffffffffu;
    memcpy(id, pre, 16);
    for (int i = 0; i < 8; i++)
        id[16 + i] = hex[(c >> (28 - 4 * i)) & 15];
    id[24] = '\0';
    return id;
}

RP_API const char *rp_req_id(rp_req *r)
{
    if (!r->id) {
        const char *h = rp_req_header(r, "X-Request-Id");
        r->id = h && id_valid(h) ? h : new_id(r->pool);
    }
    return r->id;
}

/* MAP, first: RequestId on echoes the id in every response. */
int rp_request_id_hook(rp_req *r)
{
    rp_resp_header_set(r, "X-Request-Id", rp_req_id(r));
    return RP_DECLINED;
}

/* ---- writing -------------------------------------------------------------- */

typedef struct {
    char *b;
    size_t n, cap;
    bool json;
} lbuf;

/* Output bytes one value may take: the builtin formats' client-supplied
 * values together stay well inside the line, so a JSON line is never cut
 * short of its closing brace. */
#define LF_VALUE_MAX 2000

static void put(lbuf *o, const char *s, size_t n)
{
    if (n > o->cap - o->n)
        n = o->cap - o->n;
    memcpy(o->b + o->n, s, n);
    o->n += n;
}

/* The length of the well-formed UTF-8 sequence (RFC 3629: shortest form,
 * no surrogates, nothing above U+10FFFF) of 2-4 bytes at s, else 0. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n = c >= 0xc2 && c <= 0xdf   ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    if (!n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* Text from the request or the response: never a way to forge a field or a
 * line.  Access log: \xHH for controls, quotes, backslashes and bytes above
 * 0x7e (as before); JSON: the JSON string escapes, well-formed UTF-8 as it
 * is and any other byte as \u00HH, so a line is always valid JSON. */
static void put_esc(lbuf *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t stop = o->n + LF_VALUE_MAX < o->cap ? o->n + LF_VALUE_MAX : o->cap;
    for (; s && *s && o->n + 6 < stop; s++) {
        unsigned char c = (unsigned char)*s;
        size_t u = o->json && c >= 0x80 ? utf8_seq((const unsigned char *)s) : 0;
        if (u) {
            put(o, s, u);
            s += u - 1;
        } else if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            o->b[o->n++] = (char)c;
        } else if (o->json && (c == '"' || c == '\\')) {
            o->b[o->n++] = '\\';
            o->b[o->n++] = (char)c;
        } else if (o->json) {
            memcpy(o->b + o->n, "\\u00", 4);
            o->n += 4;
            o->b[o->n++] = hex[c >> 4];
            o->b[o->n++] = hex[c & 15];
        } else {
            o->b[o->n++] = '\\';
            o->b[o->n++] = 'x';
            o->b[o->n++] = hex[c >> 4];
            o->b[o->n++] = hex[c & 15];
        }
    }
}

static void put_u64(lbuf *o, unsigned long long v)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%llu", v);
    put(o, t, (size_t)n);
}

/* "[10/Oct/2000:13:55:36 -0700]", formatted once a second per thread. */
static void put_clf_time(lbuf *o, time_t now)
{
    static __thread time_t last;
    static __thread char text[40];
    static __thread size_t len;
    if (now != last) {
        struct tm tm;
        localtime_r(&now, &tm);
        len = strftime(text, sizeof text, "[%d/%b/%Y:%H:%M:%S %z]", &tm);
        last = now;
    }
    put(o, text, len);
}

static void put_time(lbuf *o, const char *fmt, time_t now)
{
    if (!fmt) {
        put_clf_time(o, now);
        return;
    }
    struct tm tm;
    char t[256];
    localtime_r(&now, &tm);
    size_t n = strftime(t, sizeof t, fmt, &tm);
    t[n] = '\0';
    put_esc(o, t);
}

static uint64_t elapsed_us(const rp_req *r)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t us =
        (int64_t)(now.tv_sec - r->t0.tv_sec) * 1000000 + (now.tv_nsec - r->t0.tv_nsec) / 1000;
    return us > 0 ? (uint64_t)us : 0;
}

RP_API double rp_req_age(const rp_req *r)
{
    return (double)elapsed_us(r) / 1e6;
}

RP_API uint64_t rp_resp_bytes_sent(const rp_req *r)
{
    return r->body_bytes;
}

static void put_proto(lbuf *o, const rp_req *r)
{
    const char *p = rp_req_protocol(r);
    put(o, p, strlen(p));
}

static void put_item(lbuf *o, rp_req *r, const lf_item *it, time_t now)
{
    switch (it->kind) {
    case LF_TEXT: put(o, it->arg, it->len); break;
    case LF_PERCENT: put(o, "%", 1); break;
    case LF_REMOTE_IP: put_esc(o, rp_req_remote_ip(r)); break;
    case LF_LOCAL_IP: put_esc(o, r->conn->local_ip); break;
    case LF_LOCAL_PORT: put_u64(o, (unsigned long long)r->conn->local_port); break;
    case LF_DASH: put(o, "-", 1); break; /* identd: never asked */
    case LF_USER:
        if (r->user)
            put_esc(o, r->user);
        else
            put(o, "-", 1);
        break;
    case LF_TIME: put_time(o, it->arg, now); break;
    case LF_REQLINE:
        put_esc(o, r->method);
        put(o, " ", 1);
        put_esc(o, r->uri);
        put(o, " ", 1);
        put_proto(o, r);
        break;
    case LF_METHOD: put_esc(o, r->method); break;
    case LF_PATH: put_esc(o, r->path ? r->path : r->uri); break;
    case LF_QUERY:
        if (r->query) {
            put(o, "?", 1);
            put_esc(o, r->query);
        }
        break;
    case LF_PROTO: put_proto(o, r); break;
    case LF_STATUS: put_u64(o, (unsigned long long)r->status); break;
    case LF_BYTES_CLF:
        if (r->body_bytes)
            put_u64(o, (unsigned long long)r->body_bytes);
        else
            put(o, "-", 1);
        break;
    case LF_BYTES: put_u64(o, (unsigned long long)r->body_bytes); break;
    case LF_USEC: put_u64(o, (unsigned long long)elapsed_us(r)); break;
    case LF_SEC: {
        uint64_t us = elapsed_us(r);
        const char *u = it->arg ? it->arg : "s";
        put_u64(o, (unsigned long long)(u[0] == 'm' ? us / 1000 : u[0] == 'u' ? us : us / 1000000));
        break;
    }
    case LF_REQ_HDR: {
        const char *v = rp_req_header(r, it->arg);
        if (v)
            put_esc(o, v);
        else
            put(o, "-", 1);
        break;
    }
    case LF_RESP_HDR: {
        const char *v = rp_resp_header_get(r, it->arg);
        if (v)
            put_esc(o, v);
        else
            put(o, "-", 1);
        break;
    }
    case LF_REQ_ID: put_esc(o, rp_req_id(r)); break;
    }
}

/* No line at all for a request of a <Host> that says Log off; logFunc
 * (mod_js) reads the line here too, so it is silenced the same way. */
RP_API size_t rp_access_log_line(rp_req *r, char *buf, size_t cap)
{
    if (!rp_access_log_enabled() || (r->host && r->host->log_off))
        return 0;
    return rp_access_log_format(r, r->server->core->log_fmt, buf, cap);
}

size_t rp_access_log_format(rp_req *r, const rp_logfmt *f, char *buf, size_t cap)
{
    if (cap < 2 || !f)
        return 0;
    lbuf o = {buf, 0, cap - 1, f->json};
    time_t now = time(NULL);
    for (size_t i = 0; i < f->n; i++)
        put_item(&o, r, &f->items[i], now);
    buf[o.n++] = '\n';
    return o.n;
}

RP_API void rp_access_log_skip(rp_req *r)
{
    r->log_skip = true;
}

int rp_access_log_hook(rp_req *r)
{
    if (r->log_skip)
        return RP_OK;
    char line[16384];
    size_t n = rp_access_log_line(r, line, sizeof line);
    if (n)
        rp_access_log_write(line, n);
    return RP_OK;
}
